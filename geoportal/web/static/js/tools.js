// The map tools: draw a polygon or a line and get its rules, measure, upload a file, print.

import {area, esc, num} from './format.js';
import {t} from './i18n.js';
import {pathLength, polygonArea} from './measure.js';

const SCALES = [500, 1000, 2000, 5000, 10000, 25000, 50000];
const EMPTY = {type: 'FeatureCollection', features: []};

/** The draw layers (a source of the points being drawn, outlined in orange). */
export function drawLayers() {
  return [
    {id: 'draw-fill', type: 'fill', source: 'draw', filter: ['==', ['geometry-type'], 'Polygon'],
      paint: {'fill-color': '#e4572e', 'fill-opacity': 0.12}},
    {id: 'draw-line', type: 'line', source: 'draw', filter: ['!=', ['geometry-type'], 'Point'],
      paint: {'line-color': '#c43d16', 'line-width': 2.2, 'line-dasharray': [2, 1]}},
    {id: 'draw-points', type: 'circle', source: 'draw', filter: ['==', ['geometry-type'], 'Point'],
      paint: {'circle-radius': 4.5, 'circle-color': '#fff', 'circle-stroke-color': '#c43d16',
        'circle-stroke-width': 2}},
  ];
}

function distance(metres) {
  return metres >= 1000 ? `${num(metres / 1000)} km` : `${num(Math.round(metres * 10) / 10)} m`;
}

export class MapTools {
  /** `app` answers rulesFor(geometry, label) and knows the map, its view and the date. */
  constructor({app, card, upload}) {
    this.app = app;
    this.map = app.map;
    this.card = card;
    this.upload = upload;
    this.mode = null;
    this.points = [];
    this.hover = null;
    this.lastButton = null;
    this.title = card.querySelector('#tool-title');
    this.help = card.querySelector('#tool-help');
    this.measure = card.querySelector('#tool-measure');
    this.form = card.querySelector('#tool-form');
    this.finishButton = card.querySelector('#tool-finish');
    card.querySelector('#tool-cancel').addEventListener('click', () => this.stop());
    this.finishButton.addEventListener('click', () => this.finish());
    card.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.stop();
    });
    upload.addEventListener('change', () => this.sendFile());
    this.map.on('click', (event) => {
      if (!this.drawing) return;
      this.points.push([event.lngLat.lng, event.lngLat.lat]);
      this.redraw();
    });
    this.map.on('dblclick', (event) => {
      if (!this.drawing) return;
      event.preventDefault();
      this.finish();
    });
    this.map.on('mousemove', (event) => {
      if (!this.drawing || !this.points.length) return;
      this.hover = [event.lngLat.lng, event.lngLat.lat];
      this.redraw();
    });
  }

  get drawing() {
    return ['polygon', 'line', 'measure'].includes(this.mode);
  }

  /** The MapLibre control: one button per tool. */
  control() {
    const tools = this;
    return {
      onAdd() {
        const group = document.createElement('div');
        group.className = 'maplibregl-ctrl maplibregl-ctrl-group tool-buttons';
        group.setAttribute('role', 'toolbar');
        group.setAttribute('aria-label', t('tools'));
        for (const [mode, key] of [['polygon', 'tool_polygon'], ['line', 'tool_line'],
          ['measure', 'tool_measure'], ['upload', 'tool_upload'], ['print', 'tool_print']]) {
          const button = document.createElement('button');
          button.type = 'button';
          button.className = `tool tool-${mode}`;
          button.dataset.tool = mode;
          button.dataset.i18nLabel = key;
          button.setAttribute('aria-label', t(key));
          button.title = t(key);
          button.addEventListener('click', () => tools.start(mode, button));
          group.append(button);
        }
        this.group = group;
        return group;
      },
      onRemove() {
        this.group.remove();
      },
    };
  }

  start(mode, button) {
    this.stop({keepFocus: true});
    this.lastButton = button ?? null;
    if (mode === 'upload') {
      this.upload.value = '';
      this.upload.click();
      return;
    }
    this.mode = mode;
    document.body.classList.add('tool-active');
    button?.setAttribute('aria-pressed', 'true');
    this.card.hidden = false;
    this.title.textContent = t(`tool_${mode}`);
    this.measure.textContent = '';
    this.form.innerHTML = '';
    if (mode === 'print') {
      this.help.textContent = t('print_help');
      this.printForm();
      this.finishButton.hidden = true;
      this.form.querySelector('select').focus();
      return;
    }
    this.finishButton.hidden = mode === 'measure';
    this.help.textContent = t(`help_${mode}`);
    this.map.doubleClickZoom.disable();
    this.map.getCanvas().style.cursor = 'crosshair';
    this.points = [];
    this.redraw();
    this.map.getCanvas().focus();
  }

  stop({keepFocus = false} = {}) {
    if (!this.mode) return;
    document.querySelectorAll('.tool[aria-pressed]').forEach((b) => b.removeAttribute('aria-pressed'));
    const wasDrawing = this.drawing;
    this.mode = null;
    document.body.classList.remove('tool-active');
    this.card.hidden = true;
    this.hover = null;
    if (wasDrawing) {
      this.map.doubleClickZoom.enable();
      this.map.getCanvas().style.cursor = '';
      if (!keepFocus) this.points = [];
      this.redraw();
    }
    if (!keepFocus) this.lastButton?.focus();
  }

  /** Add the point at the map centre (keyboard drawing: Space on the focused map). */
  addCentre() {
    const centre = this.map.getCenter();
    this.points.push([centre.lng, centre.lat]);
    this.redraw();
  }

  features() {
    const points = this.hover ? [...this.points, this.hover] : this.points;
    const features = this.points.map((p) => ({type: 'Feature', properties: {}, geometry: {type: 'Point', coordinates: p}}));
    const closed = this.mode === 'polygon' || (this.mode === 'measure' && points.length >= 3);
    if (closed && points.length >= 3) {
      features.push({type: 'Feature', properties: {},
        geometry: {type: 'Polygon', coordinates: [[...points, points[0]]]}});
    } else if (points.length >= 2) {
      features.push({type: 'Feature', properties: {}, geometry: {type: 'LineString', coordinates: points}});
    }
    return features;
  }

  redraw() {
    const source = this.map.getSource('draw');
    source?.setData(this.drawing || this.points.length ? {type: 'FeatureCollection', features: this.features()} : EMPTY);
    if (!this.drawing) return;
    const points = this.hover ? [...this.points, this.hover] : this.points;
    const parts = [];
    if (points.length >= 2) {
      const length = pathLength(points);
      parts.push(`${t(this.mode === 'polygon' ? 'perimeter' : 'length')} : <strong data-length="${length.toFixed(2)}">${distance(
        this.mode === 'polygon' && points.length >= 3 ? length + pathLength([points.at(-1), points[0]]) : length)}</strong>`);
    }
    if (points.length >= 3 && this.mode !== 'line') {
      const surface = polygonArea(points);
      parts.push(`${t('area')} : <strong data-area="${surface.toFixed(2)}">${area(surface)}</strong>`);
    }
    this.measure.innerHTML = parts.join(' · ');
  }

  async finish() {
    if (this.mode === 'polygon' && this.points.length >= 3) {
      const ring = [...this.points, this.points[0]];
      this.stop({keepFocus: true});
      this.points = ring.slice(0, -1);
      this.redraw();
      await this.app.rulesFor({type: 'Polygon', coordinates: [ring]});
    } else if (this.mode === 'line' && this.points.length >= 2) {
      const line = {type: 'LineString', coordinates: this.points};
      this.stop({keepFocus: true});
      this.redraw();
      await this.app.rulesForLine(line);
    }
  }

  async sendFile() {
    const file = this.upload.files?.[0];
    if (!file) return;
    await this.app.rulesForFile(file);
  }

  printForm() {
    const zoomScale = this.app.currentScale();
    const nearest = SCALES.reduce((best, s) => (Math.abs(Math.log(s / zoomScale)) < Math.abs(Math.log(best / zoomScale)) ? s : best), SCALES[0]);
    this.form.innerHTML = `
      <label>${esc(t('print_size'))}
        <select id="print-size"><option value="A4">A4</option><option value="A3">A3</option></select></label>
      <label>${esc(t('print_scale'))}
        <select id="print-scale">${SCALES.map((s) => `<option value="${s}"${s === nearest ? ' selected' : ''}>1/${s.toLocaleString('fr-FR')}</option>`).join('')}</select></label>
      <a id="print-go" class="button button-primary" target="_blank" rel="noopener" href="#">${esc(t('print_go'))}</a>`;
    const link = this.form.querySelector('#print-go');
    const update = () => { link.href = this.app.printUrl(this.form.querySelector('#print-size').value, this.form.querySelector('#print-scale').value); };
    this.form.addEventListener('change', update);
    link.addEventListener('focus', update);
    link.addEventListener('mouseenter', update);
    update();
  }
}
