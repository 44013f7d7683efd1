// The layer list: a toggle and a legend per registry layer, greyed out where it is not legible.

import {esc} from './format.js';
import {hatchCanvas} from './patterns.js';

const GROUPS = [
  {title: 'Urbanisme', match: (layer) => !layer.base},
  {title: 'Fond de plan', match: (layer) => layer.base},
];

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

export class LayerList {
  constructor({container, map, config}) {
    this.container = container;
    this.map = map;
    this.config = config;
    this.visible = Object.fromEntries(config.layers.map((layer) => [layer.id, layer.visible]));
    this.render();
    container.addEventListener('change', (event) => {
      const box = event.target.closest('input[data-layer]');
      if (box) this.set(box.dataset.layer, box.checked);
    });
    map.on('zoomend', () => this.legibility());
  }

  render() {
    this.container.innerHTML = GROUPS.map((group) => {
      const layers = this.config.layers.filter(group.match);
      if (!layers.length) return '';
      return `<section class="layer-group"><h3>${group.title}</h3>${layers.map((layer) => `
        <div class="layer" data-layer-row="${esc(layer.id)}">
          <label>
            <input type="checkbox" data-layer="${esc(layer.id)}" ${layer.visible ? 'checked' : ''}>
            ${layer.style.classes.length ? '' : swatch(layer.style, layer.style.color)}
            <span class="layer-title">${esc(layer.title)}</span>
          </label>
          <span class="zoom-hint" hidden>visible à partir du zoom ${layer.min_zoom}</span>
          ${legend(layer)}
        </div>`).join('')}</section>`;
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

  applyAll() {
    for (const [layerId, visible] of Object.entries(this.visible)) {
      if (!visible) this.set(layerId, false);
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
