// The side panel: what rules apply at a point or to a plot (the answer of /rules). The
// headings follow the interface language; the agency's texts stay in French.

import {area, date, esc, levels, lonLat, metres, num, pct} from './format.js';
import {t} from './i18n.js';

// A plan's chip by its situation on the date asked: the note's colours (rules/note), so an
// expired plan is red even when its rules are the ones that answer (no plan in force).
const SITUATION_TONES = {
  'en vigueur': 'on', 'en révision': 'revision', 'expiré': 'off', "à l'étude": 'study',
};

/** Black or white text, whichever reads better on that background colour (WCAG contrast). */
export function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) ? '#111111' : '#ffffff';
}

const SERVITUDE_KINDS = {
  inondation: 'Zone inondable', littoral: 'Bande littorale (loi 81-12)',
  aeronautique: 'Servitude aéronautique', patrimoine: 'Périmètre patrimonial',
  ligne_electrique: 'Ligne électrique', voie_ferree: 'Voie ferrée',
};

export class RulesPanel {
  constructor({panel, body, close, config, onClose, at}) {
    this.panel = panel;
    this.body = body;
    this.config = config;
    this.onClose = onClose;
    this.at = at ?? (() => null);
    const zoning = config.layers.find((layer) => layer.id === 'zoning');
    this.zoneColours = Object.fromEntries((zoning?.style.classes ?? []).map((c) => [c.value, c.color]));
    this.servitudeColours = Object.fromEntries(
      (config.layers.find((layer) => layer.id === 'servitudes')?.style.classes ?? [])
        .map((c) => [c.value, c.color]));
    close.addEventListener('click', () => this.hide());
    panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.hide();
    });
  }

  open() {
    this.panel.hidden = false;
    document.body.classList.add('info-open');
  }

  hide() {
    this.panel.hidden = true;
    document.body.classList.remove('info-open');
    this.onClose?.();
  }

  loading(text) {
    this.open();
    this.body.innerHTML = `<p class="loading" role="status"><span class="spinner" aria-hidden="true"></span>${esc(text)}</p>`;
  }

  error(message) {
    this.open();
    this.body.innerHTML = `<div class="notice notice-error" role="alert">${esc(message)}</div>`;
  }

  /** Show what changed for the plot since a date (the answer of /rules/changes). */
  showChanges(body) {
    const list = this.body.querySelector('#changes-list');
    if (!list) return;
    const items = body.changes.map((c) => `<li data-kind="${esc(c.kind)}">${esc(c.text_fr)}</li>`).join('');
    list.innerHTML = `<p>${esc(body.summary_fr)}</p>${items ? `<ul class="list">${items}</ul>` : ''}`;
  }

  changesError(message) {
    const list = this.body.querySelector('#changes-list');
    if (list) list.innerHTML = `<p class="notice notice-error" role="alert">${esc(message)}</p>`;
  }

  /** Render an answer of /rules. */
  show(answer) {
    this.open();
    const parts = [
      this.plotSection(answer), this.zonesSection(answer), this.figuresSection(answer),
      this.servitudesSection(answer), this.reservationsSection(answer),
      this.warningsSection(answer), this.plansSection(answer), this.footer(answer),
    ];
    this.body.innerHTML = parts.filter(Boolean).join('');
    this.body.scrollTop = 0;
    this.answer = answer;
  }

  plotSection(answer) {
    return this.plotBlock(answer).replace('%%3D%%', answer.plot?.geometry
      ? `<button class="button" type="button" id="view-3d" aria-pressed="false">${esc(t('tool_3d'))}</button>` : '');
  }

  plotBlock(answer) {
    const plot = answer.plot;
    const admin = answer.admin;
    const place = [admin.commune?.name_fr, admin.prefecture?.name_fr].filter(Boolean).join(' · ');
    const placeAr = [admin.commune?.name_ar, admin.prefecture?.name_ar].filter(Boolean).join(' · ');
    const loc = answer.location;
    const title = plot?.ref
      ? `<p class="eyebrow">${esc(t('eyebrow_plot'))}</p><h3 class="plot-ref" data-parcel="${esc(plot.ref)}">${esc(plot.ref)}</h3>`
      : `<p class="eyebrow">${esc(t(plot ? 'eyebrow_geometry' : 'eyebrow_point'))}</p><h3 class="plot-ref">${esc(t(plot ? 'submitted' : 'no_plot'))}</h3>`;
    const surface = plot ? `<span class="chip">Surface ${area(plot.area_m2)}</span>` : '';
    const actions = plot?.ref ? this.noteButtons(plot.ref)
      : plot ? '<div class="actions">%%3D%%</div>' : '';
    return `<section class="plot">${title}
      <p class="place">${esc(place)}${placeAr ? `<span class="ar" lang="ar" dir="rtl">${esc(placeAr)}</span>` : ''}</p>
      <p class="meta">${surface}<span class="chip chip-muted" title="Coordonnées du point">${esc(lonLat(loc.lon, loc.lat))}</span>
        <span class="chip chip-muted" title="Merchich / Nord Maroc (EPSG:26191)">X ${esc(metres(loc.x))} · Y ${esc(metres(loc.y))}</span></p>
      ${actions}</section>`;
  }

  noteButtons(ref) {
    const base = new URL(this.config.endpoints.note, document.baseURI);
    const at = this.at();
    const query = (f) => new URLSearchParams({parcel: ref, f, ...(at ? {at} : {})}).toString();
    const html = new URL(base);
    html.search = query('html');
    const pdf = new URL(base);
    pdf.search = query('pdf');
    return `<div class="actions">
      <a class="button button-primary" id="note-html" href="${esc(html)}" target="_blank" rel="noopener">${esc(t('note'))}</a>
      <a class="button" id="note-pdf" href="${esc(pdf)}" target="_blank" rel="noopener">PDF</a>
      <a class="button" id="note-official" href="renseignement?parcel=${encodeURIComponent(ref)}">${esc(t('official_note'))}</a>
      <button class="button" type="button" id="copy-link">${esc(t('copy_link'))}</button>
      %%3D%%
    </div>`;
  }

  zoneBadge(code) {
    const colour = this.zoneColours[code] ?? '#cccccc';
    return `<span class="zone-badge" style="--zone:${esc(colour)};--zone-ink:${inkOn(colour)}">${esc(code)}</span>`;
  }

  zonesSection(answer) {
    if (!answer.zones.length) {
      return `<section><h4>${esc(t('h_zoning'))}</h4><p class="muted">Aucune zone d'un plan en vigueur en ce lieu.</p></section>`;
    }
    const zones = answer.zones.map((zone) => {
      const r = zone.rules;
      const share = zone.pct !== null && zone.pct !== undefined
        ? `<span class="share"><span class="bar"><span style="width:${Math.min(100, zone.pct)}%"></span></span>${pct(zone.pct)} · ${area(zone.area_m2)}</span>`
        : '';
      const uses = r.uses_allowed?.length
        ? `<p class="uses"><strong>Autorisé :</strong> ${esc(r.uses_allowed.join(', '))}</p>` : '';
      const forbidden = r.uses_forbidden?.length
        ? `<p class="uses"><strong>Interdit :</strong> ${esc(r.uses_forbidden.join(', '))}</p>` : '';
      return `<article class="zone" data-zone-code="${esc(zone.code)}" data-cos="${esc(r.cos ?? '')}" data-cus="${esc(r.cus ?? '')}">
        <header>${this.zoneBadge(zone.code)}<div><strong>${esc(zone.label)}</strong>
          <span class="muted">${esc(r.affectation)}</span></div></header>
        ${share}
        <dl class="figures">
          <div><dt>COS</dt><dd class="cos">${num(r.cos)}</dd></div>
          <div><dt>CUS</dt><dd class="cus">${num(r.cus)}</dd></div>
          <div><dt>Hauteur max.</dt><dd>${r.max_height_m === null ? '–' : `${num(r.max_height_m)} m`}</dd></div>
          <div><dt>Niveaux</dt><dd>${levels(r.max_levels)}</dd></div>
        </dl>
        <dl class="figures figures-small">
          <div><dt>Recul avant</dt><dd>${r.setback_front_m === null ? '–' : `${num(r.setback_front_m)} m`}</dd></div>
          <div><dt>Recul latéral</dt><dd>${r.setback_side_m === null ? '–' : `${num(r.setback_side_m)} m`}</dd></div>
          <div><dt>Surface min.</dt><dd>${area(r.min_plot_area_m2)}</dd></div>
          <div><dt>Façade min.</dt><dd>${r.min_frontage_m === null ? '–' : `${num(r.min_frontage_m)} m`}</dd></div>
        </dl>
        ${uses}${forbidden}
        <details><summary>Article du règlement (plan ${esc(zone.plan_ref)})</summary><p>${esc(r.article)}</p></details>
      </article>`;
    }).join('');
    const study = answer.study_zones?.length
      ? `<p class="muted">Plan à l'étude : ${answer.study_zones.map((z) => this.zoneBadge(z.code)).join(' ')}</p>` : '';
    return `<section><h4>${esc(t('h_zoning'))}${answer.zones.length > 1 ? ` (${answer.zones.length} zones)` : ''}</h4>${zones}${study}</section>`;
  }

  figuresSection(answer) {
    const f = answer.figures;
    if (!answer.plot || f.max_footprint_m2 === null && f.max_floor_area_m2 === null) return '';
    return `<section><h4>${esc(t('h_rights'))}</h4>
      <dl class="figures figures-wide">
        <div><dt>Emprise au sol max. (COS × surface)</dt><dd>${area(f.max_footprint_m2)}</dd></div>
        <div><dt>Surface de plancher max. (CUS × surface)</dt><dd>${area(f.max_floor_area_m2)}</dd></div>
      </dl></section>`;
  }

  servitudesSection(answer) {
    const items = answer.servitudes.map((s) => {
      const colour = this.servitudeColours[s.kind] ?? '#2171b5';
      const height = s.max_height_m !== null && s.max_height_m !== undefined ? ` · hauteur max. ${num(s.max_height_m)} m` : '';
      const hit = s.pct !== null && s.pct !== undefined ? ` · ${pct(s.pct)} de la parcelle` : '';
      return `<li class="servitude" style="--hatch:${esc(colour)}"><strong>${esc(SERVITUDE_KINDS[s.kind] ?? s.kind)}</strong> — ${esc(s.name)}
        <span class="muted">${esc(s.effect)}${height}${hit}</span>${s.legal_ref ? `<span class="legal">${esc(s.legal_ref)}</span>` : ''}</li>`;
    });
    const rasters = answer.rasters.filter((r) => r.max !== null || r.at_point !== null).map((r) =>
      `<li><strong>${esc(r.title)}</strong> <span class="muted">${esc(r.label ?? num(r.max ?? r.at_point))}</span></li>`);
    if (!items.length && !rasters.length) {
      return `<section><h4>${esc(t('h_servitudes'))}</h4><p class="muted">Aucune servitude connue en ce lieu.</p></section>`;
    }
    return `<section><h4>${esc(t('h_servitudes'))}</h4><ul class="list">${items.join('')}${rasters.join('')}</ul></section>`;
  }

  reservationsSection(answer) {
    const items = [
      ...answer.reservations.map((r) => `<li><strong>Réservation</strong> — ${esc(r.label)}
        <span class="muted">${area(r.area_m2)}${r.pct !== null ? ` · ${pct(r.pct)}` : ''}</span></li>`),
      ...answer.planned_roads.map((r) => `<li><strong>Voirie projetée</strong> — ${esc(r.label)}
        <span class="muted">emprise ${r.width_m === null ? '–' : `${num(r.width_m)} m`} · ${area(r.area_m2)}</span></li>`),
    ];
    if (!items.length) return '';
    return `<section><h4>${esc(t('h_reservations'))}</h4><ul class="list">${items.join('')}</ul></section>`;
  }

  warningsSection(answer) {
    if (!answer.warnings.length) return '';
    return `<section><h4>${esc(t('h_warnings'))}</h4><ul class="warnings">${answer.warnings.map((w) =>
      `<li data-code="${esc(w.code)}">${esc(w.message)}</li>`).join('')}</ul></section>`;
  }

  plansSection(answer) {
    if (!answer.plans.length) return '';
    return `<section><h4>${esc(t('h_plans'))}</h4><ul class="list">${answer.plans.map((p) => `
      <li data-plan="${esc(p.ref)}" data-situation="${esc(p.situation)}"><strong>${esc(p.name)}</strong> <span class="status status-${SITUATION_TONES[p.situation] ?? 'future'}">${esc(p.situation)}</span>${p.applies ? ` <span class="applies">${esc(t('applies'))}</span>` : ''}
        <span class="muted">${esc(p.ref)} · approuvé le ${date(p.approval_date)}${p.valid_until ? ` · jusqu'au ${date(p.valid_until)}` : ''}</span></li>`).join('')}
      </ul></section>`;
  }

  footer(answer) {
    const changes = answer.plot?.ref ? `<section class="changes"><h4>${esc(t('changes_title'))}</h4>
      <form id="changes-form" class="changes-form"><label for="changes-from">${esc(t('changes_from'))}</label>
        <input id="changes-from" type="date" required max="${new Date().toISOString().slice(0, 10)}">
        <button class="button button-small" type="submit">${esc(t('changes_go'))}</button></form>
      <div id="changes-list" aria-live="polite"></div></section>` : '';
    return `${changes}<footer class="answer-foot"><p>${esc(t('rules_at'))} ${date(answer.at)} · réponse du ${date(answer.date)}
      · données <code>${esc(answer.data_version)}</code></p><p>${esc(answer.disclaimer)}</p></footer>`;
  }
}
