// The web geoportal: a MapLibre map on the service's own vector tiles, the rules panel,
// the search, the layer list, the coordinates, the tools (draw, measure, upload, print), the
// date, the 3D envelope and the French/Arabic interface. Everything comes from this service.

import {CoordinateReadout} from './coords.js';
import {EnvelopeView} from './envelope.js';
import {area, num} from './format.js';
import {apply as applyLanguage, initialLanguage, language, t} from './i18n.js';
import {LayerList} from './layers.js';
import {setProjection} from './measure.js';
import {RulesPanel} from './panel.js';
import {installPatterns} from './patterns.js';
import {SearchBox} from './search.js';
import {areaLabel, buildStyle, overlayLayers, sources, SOURCE} from './style.js';
import {MapTools} from './tools.js';

const LOCALE = {
  'AttributionControl.ToggleAttribution': 'Afficher ou masquer les crédits',
  'AttributionControl.MapFeedback': 'Signaler une erreur',
  'FullscreenControl.Enter': 'Plein écran',
  'FullscreenControl.Exit': 'Quitter le plein écran',
  'GeolocateControl.FindMyLocation': 'Me localiser',
  'GeolocateControl.LocationNotAvailable': 'Position indisponible',
  'LogoControl.Title': 'MapLibre',
  'Map.Title': 'Carte',
  'Marker.Title': 'Point sélectionné',
  'NavigationControl.ResetBearing': 'Réorienter vers le nord',
  'NavigationControl.ZoomIn': 'Zoom avant',
  'NavigationControl.ZoomOut': 'Zoom arrière',
  'Popup.Close': 'Fermer',
  'ScaleControl.Feet': 'ft',
  'ScaleControl.Meters': 'm',
  'ScaleControl.Kilometers': 'km',
  'ScaleControl.Miles': 'mi',
  'ScaleControl.NauticalMiles': 'nm',
  'TerrainControl.Enable': 'Activer le relief',
  'TerrainControl.Disable': 'Désactiver le relief',
  'CooperativeGesturesHandler.WindowsHelpText': 'Utilisez Ctrl + molette pour zoomer',
  'CooperativeGesturesHandler.MacHelpText': 'Utilisez ⌘ + molette pour zoomer',
  'CooperativeGesturesHandler.MobileHelpText': 'Utilisez deux doigts pour déplacer la carte',
};
const NARROW = matchMedia('(max-width: 760px)');
const SHEET_SHARE = 0.5; // the bottom sheet's height on phones (see app.css)

function absolute(path) {
  // Not new URL(path): it would percent-encode the {z}/{x}/{y} of a tile template.
  return new URL('./', document.baseURI).href + path;
}

/** A JSON request in French (the API's errors follow Accept-Language; Arabic: French). */
async function fetchJSON(url, options = {}) {
  let response;
  try {
    response = await fetch(url, {...options, headers: {Accept: 'application/json', 'Accept-Language': 'fr', ...options.headers}});
  } catch {
    return {ok: false, status: 0, body: {description: t('no_service')}};
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return {ok: response.ok, status: response.status, body};
}

function geometryBounds(geometry) {
  const bounds = new maplibregl.LngLatBounds();
  const walk = (coords) => {
    if (typeof coords[0] === 'number') bounds.extend(coords);
    else coords.forEach(walk);
  };
  walk(geometry.coordinates);
  return bounds;
}

function today() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

class Geoportal {
  constructor(config) {
    this.config = config;
    this.marker = null;
    this.subject = null;
    this.at = new URLSearchParams(location.search).get('at') || null;
    this.base = 'ours';
    setProjection(config.crs);
    const planning = config.layers.find((layer) => layer.id === 'zoning');
    const placed = Boolean(location.hash) || new URLSearchParams(location.search).has('parcel');
    this.map = new maplibregl.Map({
      container: 'map',
      style: config.basemap_url || buildStyle(config, this.tilesUrl()),
      bounds: config.bounds,
      // Leave room for the layer list on a wide screen.
      fitBoundsOptions: {padding: NARROW.matches ? 16 : {top: 24, bottom: 40, left: 320, right: 24}},
      hash: true,
      minZoom: 6,
      maxZoom: 20,
      maxPitch: 70,
      locale: LOCALE,
      dragRotate: false,
      pitchWithRotate: true,
      touchPitch: false,
      attributionControl: {compact: true},
    });
    // The first view shows the planning layers: never below the zoning's minimum zoom.
    const legible = () => {
      if (planning && this.map.getZoom() < planning.min_zoom) this.map.jumpTo({zoom: planning.min_zoom});
    };
    if (!placed) {
      legible();
      this.map.once('load', legible);
    }
    this.map.touchZoomRotate.disableRotation();
    this.map.keyboard.disableRotation();
    this.map.addControl(new maplibregl.NavigationControl({showCompass: true, visualizePitch: true}), 'top-right');
    this.map.addControl(new maplibregl.FullscreenControl(), 'top-right');
    const geolocate = new maplibregl.GeolocateControl({
      positionOptions: {enableHighAccuracy: true}, trackUserLocation: false, showAccuracyCircle: true,
    });
    this.map.addControl(geolocate, 'top-right');
    // Where I stand: the rules there, once the map has flown to it (the land under the
    // point must be drawn to know it is on the territory).
    geolocate.on('geolocate', (position) => {
      const lngLat = new maplibregl.LngLat(position.coords.longitude, position.coords.latitude);
      this.map.once('moveend', () => this.queryPoint(lngLat, {located: true}));
    });
    this.tools = new MapTools({app: this, card: document.getElementById('tool-card'),
      upload: document.getElementById('upload-input')});
    this.map.addControl(this.tools.control(), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({unit: 'metric', maxWidth: 130}), 'bottom-right');
    installPatterns(this.map, config);
    if (config.basemap_url) this.map.once('style.load', () => this.addOverlay());
    this.envelope = new EnvelopeView(this.map);

    this.panel = new RulesPanel({
      panel: document.getElementById('info-panel'), body: document.getElementById('info-body'),
      close: document.getElementById('info-close'), config, onClose: () => this.clearSelection(),
      at: () => this.at,
    });
    this.panel.body.addEventListener('click', (event) => {
      if (event.target.id === 'copy-link') this.copyLink(event.target);
      if (event.target.id === 'view-3d') this.toggle3d(event.target);
    });
    this.panel.body.addEventListener('submit', (event) => {
      if (event.target.id === 'changes-form') {
        event.preventDefault();
        this.changesSince(event.target.querySelector('input').value);
      }
    });
    this.layers = new LayerList({container: document.getElementById('layer-list'), map: this.map, config});
    this.search = new SearchBox({
      input: document.getElementById('search-input'), list: document.getElementById('search-results'),
      endpoint: config.endpoints.search, onChoose: (result) => this.choose(result),
    });
    this.coords = new CoordinateReadout({
      map: this.map, wgs84: document.getElementById('coords-wgs84'),
      local: document.getElementById('coords-local'), crs: config.crs,
    });
    this.wireLayout();
    this.wireDate();
    this.wireBasemap();
    this.wireLanguage();
    this.map.on('click', (event) => {
      if (!this.tools.mode) this.queryPoint(event.lngLat);
    });
    const canvas = this.map.getCanvas();
    canvas.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !this.tools.drawing) this.queryPoint(this.map.getCenter());
      else if (event.key === 'Enter') this.tools.finish();
      else if (event.key === ' ' && this.tools.drawing) {
        event.preventDefault();
        this.tools.addCentre();
      } else if (event.key === 'Escape') {
        if (this.tools.mode) this.tools.stop();
        else if (!this.panel.panel.hidden) this.panel.hide();
      }
    });
    this.map.on('load', () => {
      this.layers.applyAll();
      const parcel = new URLSearchParams(location.search).get('parcel');
      if (parcel) this.queryParcel(parcel, {fit: true});
    });
    this.map.on('idle', () => { document.body.dataset.mapIdle = 'true'; });
    this.map.on('movestart', () => { document.body.dataset.mapIdle = 'false'; });
    this.map.on('dataloading', () => { document.body.dataset.mapIdle = 'false'; });
  }

  tilesUrl() {
    const url = absolute(this.config.tiles);
    return this.at ? `${url}?at=${encodeURIComponent(this.at)}` : url;
  }

  addOverlay() {
    const all = sources(this.config, this.tilesUrl());
    for (const [id, source] of Object.entries(all)) {
      if (!this.map.getSource(id)) this.map.addSource(id, source);
    }
    for (const layer of overlayLayers(this.config, {withBase: false})) {
      if (!this.map.getLayer(layer.id)) this.map.addLayer(layer);
    }
  }

  wireLayout() {
    const toggle = document.getElementById('layers-toggle');
    const setOpen = (open) => {
      document.body.classList.toggle('layers-closed', !open);
      toggle.setAttribute('aria-expanded', String(open));
      setTimeout(() => this.map.resize(), 220);
    };
    setOpen(!NARROW.matches);
    toggle.addEventListener('click', () => setOpen(document.body.classList.contains('layers-closed')));
    document.querySelector('.layers-close').addEventListener('click', () => {
      setOpen(false);
      toggle.focus();
    });
    document.getElementById('layers-panel').addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && NARROW.matches) {
        setOpen(false);
        toggle.focus();
      }
    });
  }

  wireDate() {
    const input = document.getElementById('at-input');
    const reset = document.getElementById('at-reset');
    input.max = today();
    input.value = this.at ?? '';
    reset.hidden = !this.at;
    input.addEventListener('change', () => {
      if (input.value && input.value > input.max) input.value = input.max;
      this.setDate(input.value || null);
      reset.hidden = !this.at;
    });
    reset.addEventListener('click', () => {
      input.value = '';
      this.setDate(null);
      reset.hidden = true;
      input.focus();
    });
  }

  /** Show the map, the panel and the note as they stood on that day (null: today). */
  setDate(day) {
    this.at = day;
    document.body.classList.toggle('in-the-past', Boolean(day));
    const params = new URLSearchParams(location.search);
    if (day) params.set('at', day);
    else params.delete('at');
    this.replaceQuery(params);
    this.map.getSource(SOURCE)?.setTiles([this.tilesUrl()]);
    this.requery();
  }

  requery() {
    const subject = this.subject;
    if (!subject) return;
    if (subject.kind === 'parcel') this.queryParcel(subject.ref, {fit: false});
    else if (subject.kind === 'point') this.queryPoint(subject.lngLat, {move: false});
    else if (subject.kind === 'geometry') this.rulesFor(subject.geometry, {fit: false});
  }

  wireBasemap() {
    const row = document.getElementById('basemap-external-row');
    row.hidden = !this.config.basemap_url;
    document.querySelector('.basemap-box').hidden = !this.config.basemap_url;
    document.querySelector('.basemap-box').addEventListener('change', (event) => {
      if (event.target.name === 'basemap') this.setBase(event.target.value);
    });
    this.base = this.config.basemap_url ? 'external' : 'ours';
    const checked = document.querySelector(`input[name=basemap][value=${this.base}]`);
    if (checked) checked.checked = true;
  }

  /** Our own base map, or the configured external one under our layers. */
  setBase(kind) {
    if (kind === this.base) return;
    this.base = kind;
    const external = kind === 'external' && this.config.basemap_url;
    this.map.setStyle(external ? this.config.basemap_url : buildStyle(this.config, this.tilesUrl()), {diff: false});
    this.map.once('style.load', () => {
      if (external) this.addOverlay();
      this.layers.restyle();
      this.relabel();
      this.envelope.redraw();
      if (this.panel.answer) this.setSelection(this.panel.answer.plot?.geometry ?? null);
    });
  }

  wireLanguage() {
    document.getElementById('lang-toggle').addEventListener('click', () => {
      applyLanguage(language() === 'ar' ? 'fr' : 'ar');
      this.afterLanguage();
    });
    this.map.once('load', () => this.relabel());
  }

  afterLanguage() {
    this.layers.render();
    this.relabel();
    if (this.panel.answer && !this.panel.panel.hidden) this.panel.show(this.panel.answer);
    const params = new URLSearchParams(location.search);
    if (language() === 'ar') params.set('lang', 'ar');
    else params.delete('lang');
    this.replaceQuery(params);
  }

  /** Communes' and préfectures' names in the interface's language first. */
  relabel() {
    for (const layer of this.map.getStyle()?.layers ?? []) {
      const field = layer.metadata?.areaLabel;
      if (field) this.map.setLayoutProperty(layer.id, 'text-field', areaLabel(field, language()));
    }
  }

  /** The bottom sheet's height on a phone, else the side panel's width on the right. */
  padding() {
    if (NARROW.matches) return {top: 40, bottom: window.innerHeight * SHEET_SHARE, left: 30, right: 30};
    const panel = this.panel.panel.hidden ? 0 : this.panel.panel.offsetWidth;
    // The panel is on the right, or on the left in the right-to-left (Arabic) layout.
    return language() === 'ar' ? {top: 60, bottom: 60, left: panel + 60, right: 60}
      : {top: 60, bottom: 60, left: 60, right: panel + 60};
  }

  /** On a phone, bring a point above the bottom sheet (it would be hidden under it). */
  keepVisible(lngLat) {
    if (!NARROW.matches) return;
    const sheetTop = window.innerHeight * (1 - SHEET_SHARE) - this.map.getContainer().getBoundingClientRect().top;
    const point = this.map.project(lngLat);
    if (point.y < sheetTop - 40) return;
    this.map.easeTo({center: lngLat, padding: {top: 0, bottom: window.innerHeight * SHEET_SHARE, left: 0, right: 0},
      duration: 300});
  }

  setMarker(lngLat) {
    if (!this.marker) this.marker = new maplibregl.Marker({color: '#e4572e'});
    this.marker.setLngLat(lngLat).addTo(this.map);
  }

  setSelection(geometry) {
    const data = geometry
      ? {type: 'FeatureCollection', features: [{type: 'Feature', geometry, properties: {}}]}
      : {type: 'FeatureCollection', features: []};
    this.map.getSource('selection')?.setData(data);
  }

  clearSelection() {
    this.setSelection(null);
    this.marker?.remove();
    this.envelope.hide();
    this.subject = null;
    this.tools.points = [];
    this.tools.redraw();
    this.setParcelInUrl(null);
    // Focus back on the map (not the page's body) when the panel closes.
    if (!document.activeElement || document.activeElement === document.body
        || this.panel.panel.contains(document.activeElement)) {
      this.map.getCanvas().focus({preventScroll: true});
    }
  }

  replaceQuery(params) {
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }

  setParcelInUrl(ref) {
    const params = new URLSearchParams(location.search);
    if (ref) params.set('parcel', ref);
    else params.delete('parcel');
    this.replaceQuery(params);
  }

  outsideTerritory(lngLat) {
    // Our land layer is drawn from the territories: no land under the point, no rules there.
    if (!this.map.getLayer('base-land')) return false;
    const point = this.map.project(lngLat);
    return this.map.queryRenderedFeatures(point, {layers: ['base-land']}).length === 0;
  }

  rulesUrl(params) {
    if (this.at) params.set('at', this.at);
    return `${absolute(this.config.endpoints.rules)}?${params}`;
  }

  showAnswer(body) {
    this.envelope.hide();
    this.panel.show(body);
  }

  async queryPoint(lngLat, {move = true, located = false} = {}) {
    this.subject = {kind: 'point', lngLat};
    this.setMarker(lngLat);
    if (move) this.keepVisible(lngLat);
    if (this.outsideTerritory(lngLat)) {
      this.setSelection(null);
      this.setParcelInUrl(null);
      this.panel.error(located ? `${t('located')} : ${t('outside')}` : t('outside'));
      return;
    }
    this.panel.loading(located ? `${t('located')}…` : t('loading_point'));
    const params = new URLSearchParams({lon: lngLat.lng.toFixed(7), lat: lngLat.lat.toFixed(7), geometry: 'true'});
    const {ok, body} = await fetchJSON(this.rulesUrl(params));
    if (!ok) {
      this.setSelection(null);
      this.setParcelInUrl(null);
      this.panel.error(body?.description ?? t('no_answer'));
      return;
    }
    this.showAnswer(body);
    this.setSelection(body.plot?.geometry ?? null);
    this.setParcelInUrl(body.plot?.ref ?? null);
    if (body.plot?.ref) this.subject = {kind: 'parcel', ref: body.plot.ref};
  }

  async queryParcel(ref, {fit, focus = false}) {
    this.subject = {kind: 'parcel', ref};
    this.panel.loading(`${t('eyebrow_plot')} ${ref}…`);
    const params = new URLSearchParams({parcel: ref, geometry: 'true'});
    const {ok, body} = await fetchJSON(this.rulesUrl(params));
    if (!ok) {
      this.panel.error(body?.description ?? t('no_answer'));
      return;
    }
    this.showAnswer(body);
    this.setParcelInUrl(body.plot?.ref ?? ref);
    const geometry = body.plot?.geometry;
    this.setSelection(geometry ?? null);
    this.setMarker([body.location.lon, body.location.lat]);
    if (fit && geometry) {
      this.map.fitBounds(geometryBounds(geometry), {padding: this.padding(), maxZoom: 18, duration: 0});
    }
    if (focus) this.panel.body.querySelector('.plot-ref')?.closest('section')?.querySelector('a, button')?.focus();
  }

  /** The rules of a drawn or uploaded geometry (POST /rules). */
  async rulesFor(geometry, {fit = true} = {}) {
    this.subject = {kind: 'geometry', geometry};
    this.marker?.remove();
    this.setParcelInUrl(null);
    this.panel.loading(t('loading_geometry'));
    const url = this.rulesUrl(new URLSearchParams({geometry: 'true'}));
    const {ok, body} = await fetchJSON(url, {method: 'POST', body: JSON.stringify(geometry),
      headers: {'Content-Type': 'application/json'}});
    if (!ok) {
      this.panel.error(body?.description ?? t('no_answer'));
      return;
    }
    this.showAnswer(body);
    this.setSelection(body.plot?.geometry ?? geometry);
    if (fit && geometry.type !== 'Point') {
      this.map.fitBounds(geometryBounds(geometry), {padding: this.padding(), maxZoom: 18, duration: 0});
    }
  }

  async rulesForLine(line) {
    this.panel.loading(t('loading_geometry'));
    const {ok, body} = await fetchJSON(absolute('web/corridor'), {method: 'POST', body: JSON.stringify(line),
      headers: {'Content-Type': 'application/json'}});
    if (!ok) {
      this.panel.error(body?.description ?? t('no_answer'));
      return;
    }
    await this.rulesFor(body.geometry);
  }

  async rulesForFile(file) {
    this.panel.loading(t('upload_reading'));
    const form = new FormData();
    form.append('file', file);
    const {ok, body} = await fetchJSON(absolute('web/outline'), {method: 'POST', body: form});
    if (!ok) {
      this.panel.error(body?.description ?? t('no_answer'));
      return;
    }
    await this.rulesFor(body.geometry);
  }

  async changesSince(day) {
    const ref = this.panel.answer?.plot?.ref;
    if (!ref || !day) return;
    const params = new URLSearchParams({parcel: ref, from: day});
    if (this.at) params.set('to', this.at);
    const {ok, body} = await fetchJSON(`${absolute('rules/changes')}?${params}`);
    if (ok) this.panel.showChanges(body);
    else this.panel.changesError(body?.description ?? t('no_answer'));
  }

  /** The plot's buildable envelope in 3D (the answer with envelope=true) among the
   * neighbours' envelopes (/rules/neighbours, faint), or back to 2D. */
  async toggle3d(button) {
    if (this.envelope.on) {
      this.envelope.hide();
      button.setAttribute('aria-pressed', 'false');
      this.map.dragRotate.disable();
      return;
    }
    button.setAttribute('aria-busy', 'true');
    const {answer, neighbours} = await this.envelopeAnswers(this.panel.answer);
    button.removeAttribute('aria-busy');
    const {state, neighbours: around} = this.envelope.show(answer, neighbours);
    button.setAttribute('aria-pressed', 'true');
    let note = this.panel.body.querySelector('#envelope-note');
    if (!note) {
      note = document.createElement('p');
      note.id = 'envelope-note';
      note.className = 'envelope-note';
      note.setAttribute('role', 'status');
      button.closest('.actions').after(note);
    }
    note.textContent = this.envelopeText(answer.envelope, state, around);
    if (answer.plot?.geometry) {
      this.map.fitBounds(geometryBounds(answer.plot.geometry), {padding: this.padding(), maxZoom: 18, pitch: 60,
        bearing: -20, duration: 0});
    }
  }

  /** The answer with its envelope (a plot by its reference, or the outline drawn) and the
   * neighbours' envelopes (plots only), asked at once. */
  async envelopeAnswers(shown) {
    const ref = shown?.plot?.ref;
    const subject = this.subject;
    let asked;
    let around = Promise.resolve(null);
    if (ref) {
      asked = fetchJSON(this.rulesUrl(new URLSearchParams({parcel: ref, geometry: 'true', envelope: 'true'})));
      const params = new URLSearchParams({parcel: ref});
      if (this.at) params.set('at', this.at);
      around = fetchJSON(`${absolute(this.config.endpoints.neighbours)}?${params}`);
    } else if (subject?.kind === 'geometry') {
      asked = fetchJSON(this.rulesUrl(new URLSearchParams({geometry: 'true', envelope: 'true'})),
        {method: 'POST', body: JSON.stringify(subject.geometry), headers: {'Content-Type': 'application/json'}});
    }
    const [own, near] = await Promise.all([asked ?? Promise.resolve(null), around]);
    return {answer: own?.ok ? own.body : shown, neighbours: near?.ok ? near.body : null};
  }

  envelopeText(envelope, state, neighbours) {
    if (state === 'approximate') return t('three_d_missing');
    if (state === 'none') return envelope.summary;
    const levels = envelope.max_levels !== null && envelope.max_levels !== undefined ? ` · R+${envelope.max_levels}` : '';
    const around = neighbours ? ` · ${neighbours} ${t('three_d_neighbours')}` : '';
    return `${t('three_d_title')} : ${area(envelope.area_m2)} · ${num(envelope.max_height_m)} m${levels}${around}`;
  }

  choose(result) {
    if (result.kind === 'parcel' && result.ref) {
      this.queryParcel(result.ref, {fit: true, focus: true});
      return;
    }
    if (result.kind === 'point') {
      const [lon, lat] = result.center;
      this.map.jumpTo({center: [lon, lat], zoom: Math.max(this.map.getZoom(), 16)});
      this.queryPoint(new maplibregl.LngLat(lon, lat));
      this.map.getCanvas().focus({preventScroll: true});
      return;
    }
    const [west, south, east, north] = result.bbox;
    this.map.fitBounds([[west, south], [east, north]], {padding: this.padding(), maxZoom: 15});
    this.map.getCanvas().focus({preventScroll: true});
  }

  /** The printed scale matching the current zoom at the centre (0.28 mm pixels). */
  currentScale() {
    const lat = this.map.getCenter().lat;
    const metresPerPixel = 156543.03392 * Math.cos(lat * Math.PI / 180) / 2 ** this.map.getZoom();
    return metresPerPixel / 0.00028;
  }

  printUrl(size, scale) {
    const b = this.map.getBounds();
    const visible = this.layers.visibleIds();
    const params = new URLSearchParams({
      bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(','),
      scale, size, layers: visible.join(','),
    });
    if (this.at) params.set('at', this.at);
    return `${absolute('print')}?${params}`;
  }

  async copyLink(button) {
    try {
      await navigator.clipboard.writeText(location.href);
      button.textContent = 'Lien copié';
    } catch {
      button.textContent = 'Copiez l’adresse de la page';
    }
  }
}

async function main() {
  applyLanguage(initialLanguage());
  // Reserve the panel at once when a plot is asked, so nothing moves when its answer comes.
  if (new URLSearchParams(location.search).get('parcel')) {
    document.getElementById('info-panel').hidden = false;
    document.body.classList.add('info-open');
  }
  const plugin = document.body.dataset.rtlPlugin;
  if (plugin && maplibregl.getRTLTextPluginStatus() === 'unavailable') {
    maplibregl.setRTLTextPlugin(absolute(plugin), true).catch(() => {});
  }
  const {ok, body} = await fetchJSON(absolute('web/config.json'));
  if (!ok) {
    document.getElementById('map').innerHTML =
      '<p class="notice notice-error" role="alert">La configuration de la carte est indisponible.</p>';
    return;
  }
  window.geoportal = new Geoportal(body);
}

main();
