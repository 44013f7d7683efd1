// The layer list: a toggle, an opacity slider and a legend per registry layer, with a hint
// where a layer is not drawn at the current zoom.

import {esc} from './format.js';
import {t} from './i18n.js';
import {hatchCanvas} from './patterns.js';

const GROUPS = [
  {key: 'group_planning', match: (layer) => !layer.base},
  {key: 'group_base', match: (layer) => layer.base},
];
const OPACITY = {fill: 'fill-opacity', line: 'line-opacity', circle: 'circle-opacity',
  symbol: 'text-opacity', 'fill-extrusion': 'fill-extrusion-opacity'};

function swatch(style, colour) {
  if (style.hatched) {
    const image = hatchCanvas(colour, 1).toDataURL();
    return `<span class="swatch swatch-hatch" style="--c:${esc(colour)};background-image:url(${image})"></span>`;
  }
  const kind = style.kind === 'line' ? 'swatch-line' : 'swatch-fill';
  return `<span class="swatch ${kind}" style="--c:${esc(colour)};--o:${style.opacity}"></span>`;
}

function legend(layer) {
  const style = layer.style;
  if (!style.classes.length) return '';
  return `<ul class="legend">${style.classes.map((entry) =>
    `<li>${swatch(style, entry.color)}<span>${esc(entry.label)}</span></li>`).join('')}</ul>`;
}

/** An opacity value scaled by a factor, zoom curves kept (a zoom expression stays on top). */
export function scaledOpacity(value, factor) {
  if (value === undefined || value === null) return factor;
  if (typeof value === 'number') return value * factor;
  if (Array.isArray(value) && (value[0] === 'interpolate' || value[0] === 'step')) {
    const head = value[0] === 'interpolate' ? 3 : 2;
    const out = value.slice(0, head);
    if (value[0] === 'step') out.push(scaledOpacity(value[2], factor));
    for (let i = head + (value[0] === 'step' ? 1 : 0); i < value.length; i += 2) {
      out.push(value[i], scaledOpacity(value[i + 1], factor));
    }
    return out;
  }
  return ['*', value, factor];
}

export class LayerList {
  constructor({container, map, config}) {
    this.container = container;
    this.map = map;
    this.config = config;
    this.visible = Object.fromEntries(config.layers.map((layer) => [layer.id, layer.visible]));
    this.opacity = Object.fromEntries(config.layers.map((layer) => [layer.id, 1]));
    this.original = {};
    this.render();
    container.addEventListener('change', (event) => {
      const box = event.target.closest('input[data-layer]');
      if (box) this.set(box.dataset.layer, box.checked);
    });
    container.addEventListener('input', (event) => {
      const slider = event.target.closest('input[data-opacity]');
      if (slider) this.setOpacity(slider.dataset.opacity, Number(slider.value) / 100);
    });
    map.on('zoomend', () => this.legibility());
  }

  render() {
    this.container.innerHTML = GROUPS.map((group) => {
      const layers = this.config.layers.filter(group.match);
      if (!layers.length) return '';
      return `<section class="layer-group"><h3>${esc(t(group.key))}</h3>${layers.map((layer) => {
        const title = document.documentElement.lang === 'ar' && layer.title_ar ? layer.title_ar : layer.title;
        return `
        <div class="layer" data-layer-row="${esc(layer.id)}">
          <label>
            <input type="checkbox" data-layer="${esc(layer.id)}" ${this.visible[layer.id] ? 'checked' : ''}>
            ${layer.style.classes.length ? '' : swatch(layer.style, layer.style.color)}
            <span class="layer-title">${esc(title)}</span>
          </label>
          <span class="zoom-hint" hidden>${esc(t('visible_from'))} ${layer.min_zoom}</span>
          <input class="opacity" type="range" min="0" max="100" step="5" value="${Math.round(this.opacity[layer.id] * 100)}"
                 data-opacity="${esc(layer.id)}" aria-label="${esc(t('opacity'))} : ${esc(title)}">
          ${legend(layer)}
        </div>`;
      }).join('')}</section>`;
    }).join('');
    this.legibility();
  }

  /** Show or hide every map layer drawn from that registry layer. */
  set(layerId, visible) {
    this.visible[layerId] = visible;
    for (const layer of this.map.getStyle().layers) {
      if (layer.metadata?.registry === layerId) {
        this.map.setLayoutProperty(layer.id, 'visibility', visible ? 'visible' : 'none');
      }
    }
  }

  /** Make every map layer drawn from that registry layer more or less transparent. */
  setOpacity(layerId, factor) {
    this.opacity[layerId] = factor;
    for (const layer of this.map.getStyle().layers) {
      const property = OPACITY[layer.type];
      if (layer.metadata?.registry !== layerId || !property) continue;
      if (!(layer.id in this.original)) this.original[layer.id] = this.map.getPaintProperty(layer.id, property) ?? 1;
      this.map.setPaintProperty(layer.id, property, scaledOpacity(this.original[layer.id], factor));
    }
  }

  /** The visible registry layers, for the print. */
  visibleIds() {
    return this.config.layers.filter((layer) => this.visible[layer.id]).map((layer) => layer.id);
  }

  applyAll() {
    for (const [layerId, visible] of Object.entries(this.visible)) {
      if (!visible) this.set(layerId, false);
    }
  }

  /** After a new style: visibility and opacity again. */
  restyle() {
    this.original = {};
    for (const layer of this.config.layers) {
      this.set(layer.id, this.visible[layer.id]);
      if (this.opacity[layer.id] !== 1) this.setOpacity(layer.id, this.opacity[layer.id]);
    }
  }

  legibility() {
    const zoom = this.map.getZoom();
    for (const layer of this.config.layers) {
      const row = this.container.querySelector(`[data-layer-row="${CSS.escape(layer.id)}"]`);
      if (!row) continue;
      const hidden = zoom < layer.min_zoom;
      row.classList.toggle('not-legible', hidden);
      row.querySelector('.zoom-hint').hidden = !hidden;
    }
  }
}
