// The map style, built from the layer registry (web/config.json): a base map drawn from our
// own layers (land, districts, roads) under the planning layers, with labels on top.
// No glyph server: MapLibre draws the labels itself with the browser's fonts; Arabic names are
// shaped by the vendored RTL text plugin.

import {drawLayers} from './tools.js';
import {envelopeLayers, envelopeSources} from './envelope.js';

export const SOURCE = 'auc';
export const PALETTE = {
  sea: '#c9dfeb',
  land: '#f6f3ec',
  districtLine: '#8d86b7',
  prefectureLine: '#5b4a8b',
  text: '#2f2b3a',
  halo: 'rgba(255,255,255,0.92)',
  selection: '#e4572e',
};
const REGULAR = ['Noto Sans Regular', 'Noto Sans', 'DejaVu Sans'];
const BOLD = ['Noto Sans Bold', 'Noto Sans', 'DejaVu Sans'];

/** A colour expression: by class of `style.by` when the layer is categorised. */
export function colourOf(style) {
  if (!style.by || !style.classes.length) return style.color;
  const expression = ['match', ['to-string', ['get', style.by]]];
  for (const entry of style.classes) expression.push(entry.value, entry.color);
  expression.push(style.color);
  return expression;
}

/** The name of the hatch image for one class (or the whole layer). */
export function hatchName(layerId, value) {
  return `hatch-${layerId}-${value ?? 'all'}`;
}

function hatchExpression(layer) {
  const style = layer.style;
  if (!style.by || !style.classes.length) return hatchName(layer.id);
  const expression = ['match', ['to-string', ['get', style.by]]];
  for (const entry of style.classes) expression.push(entry.value, hatchName(layer.id, entry.value));
  expression.push(hatchName(layer.id));
  return expression;
}

function zoomed(minZoom, layer) {
  return {source: SOURCE, 'source-layer': layer.id, minzoom: minZoom};
}

function baseLayers(config, byId) {
  const layers = [{id: 'background', type: 'background', paint: {'background-color': PALETTE.sea}}];
  const land = byId[config.base.land];
  if (land) {
    layers.push({id: 'base-land', type: 'fill', ...zoomed(0, land),
      paint: {'fill-color': PALETTE.land}, metadata: {registry: land.id}});
  }
  return layers;
}

function planningLayers(layer) {
  const style = layer.style;
  const colour = colourOf(style);
  const meta = {registry: layer.id};
  const common = zoomed(layer.min_zoom, layer);
  if (style.kind === 'fill' && style.hatched) {
    return [
      {id: `${layer.id}-fill`, type: 'fill', ...common, metadata: meta,
        paint: {'fill-color': colour, 'fill-opacity': 0.12}},
      {id: `${layer.id}-hatch`, type: 'fill', ...common, metadata: meta,
        paint: {'fill-pattern': hatchExpression(layer), 'fill-opacity': 0.9}},
      {id: `${layer.id}-line`, type: 'line', ...common, metadata: meta,
        paint: {'line-color': colour, 'line-width': ['interpolate', ['linear'], ['zoom'], 10, 0.6, 16, 1.6],
          'line-opacity': 0.9}},
    ];
  }
  if (style.kind === 'fill') {
    return [
      {id: `${layer.id}-fill`, type: 'fill', ...common, metadata: meta,
        paint: {'fill-color': colour,
          'fill-opacity': ['interpolate', ['linear'], ['zoom'], 9, style.opacity * 0.9, 12, style.opacity * 0.8,
            16, style.opacity * 0.6]}},
      {id: `${layer.id}-line`, type: 'line', ...common, minzoom: Math.max(layer.min_zoom, 12), metadata: meta,
        paint: {'line-color': style.outline ?? colour,
          'line-width': ['interpolate', ['linear'], ['zoom'], 12, 0.3, 16, 1.0],
          'line-opacity': ['interpolate', ['linear'], ['zoom'], 12, 0.3, 15, 0.7]}},
    ];
  }
  if (style.kind === 'circle') {
    return [{id: `${layer.id}-circle`, type: 'circle', ...common, metadata: meta,
      paint: {'circle-color': colour, 'circle-radius': 4, 'circle-stroke-color': '#fff',
        'circle-stroke-width': 1}}];
  }
  return [{id: `${layer.id}-line`, type: 'line', ...common, metadata: meta,
    paint: {'line-color': colour, 'line-opacity': style.opacity,
      'line-width': ['interpolate', ['linear'], ['zoom'], 9, style.width * 0.6, 16, style.width * 2],
      ...(layer.id === 'plans' ? {'line-dasharray': [4, 2]} : {})}}];
}

function districtLayers(config, byId) {
  const layers = [];
  const districts = byId[config.base.districts];
  if (districts) {
    layers.push({id: `${districts.id}-line`, type: 'line', ...zoomed(districts.min_zoom, districts),
      metadata: {registry: districts.id},
      paint: {'line-color': PALETTE.districtLine, 'line-dasharray': [3, 2],
        'line-width': ['interpolate', ['linear'], ['zoom'], 8, 0.6, 14, 1.6]}});
  }
  const land = byId[config.base.land];
  if (land) {
    layers.push({id: `${land.id}-line`, type: 'line', ...zoomed(land.min_zoom, land),
      metadata: {registry: land.id},
      paint: {'line-color': PALETTE.prefectureLine, 'line-opacity': 0.85,
        'line-width': ['interpolate', ['linear'], ['zoom'], 7, 1.0, 14, 2.6]}});
  }
  return layers;
}

function roadLayers(roads) {
  const byClass = (autoroute, principale, other) =>
    ['match', ['get', 'road_class'], 'autoroute', autoroute, 'principale', principale, other];
  const width = (scale) => ['interpolate', ['exponential', 1.5], ['zoom'],
    8, ['*', scale, byClass(1.4, 0.8, 0.5)],
    12, ['*', scale, byClass(3.5, 2.2, 1.4)],
    17, ['*', scale, byClass(16, 12, 8)]];
  const common = {...zoomed(roads.min_zoom, roads), metadata: {registry: roads.id},
    layout: {'line-cap': 'round', 'line-join': 'round'}};
  return [
    {id: 'roads-casing', type: 'line', ...common, minzoom: Math.max(roads.min_zoom, 10),
      paint: {'line-color': byClass('#b8743a', '#9a8d78', '#aaa08f'),
        'line-gap-width': width(1), 'line-width': ['interpolate', ['linear'], ['zoom'], 10, 0.6, 16, 1.6]}},
    {id: 'roads-line', type: 'line', ...common,
      paint: {'line-color': byClass('#f7a94b', '#ffffff', '#fbf7ef'), 'line-width': width(1)}},
  ];
}

/** A commune's or préfecture's label: French and Arabic, the interface's language first. */
export function areaLabel(field, lang) {
  const french = ['get', field];
  if (!field.endsWith('_fr')) return french;
  const arabic = ['get', `${field.slice(0, -3)}_ar`];
  const [first, second] = lang === 'ar' ? [arabic, french] : [french, arabic];
  return ['case', ['has', `${field.slice(0, -3)}_ar`],
    ['format', first, {}, '\n', {}, second, {'font-scale': 0.85}], french];
}

function labelLayers(config, byId) {
  const halo = {'text-color': PALETTE.text, 'text-halo-color': PALETTE.halo, 'text-halo-width': 1.4};
  const layers = [];
  const roads = byId[config.base.roads];
  if (roads && roads.style.label) {
    layers.push({id: 'roads-label', type: 'symbol', ...zoomed(Math.max(roads.min_zoom, 13), roads),
      metadata: {registry: roads.id},
      layout: {'symbol-placement': 'line', 'text-field': ['get', roads.style.label],
        'text-font': REGULAR, 'text-size': 11, 'text-max-angle': 30},
      paint: {...halo, 'text-color': '#5b4b32'}});
  }
  for (const layer of config.layers) {
    if (!layer.label_layer) continue;
    const field = ['get', layer.style.label];
    const base = {type: 'symbol', source: SOURCE, 'source-layer': layer.label_layer,
      metadata: {registry: layer.id}};
    if (layer.id === config.base.land) {
      layers.push({...base, id: `${layer.id}-label`, minzoom: 7, maxzoom: 11,
        metadata: {registry: layer.id, areaLabel: layer.style.label},
        layout: {'text-field': areaLabel(layer.style.label, 'fr'), 'text-font': BOLD, 'text-transform': 'uppercase',
          'text-letter-spacing': 0.12, 'text-size': 13, 'text-max-width': 9},
        paint: {...halo, 'text-color': '#4a3b7a'}});
    } else if (layer.id === config.base.districts) {
      layers.push({...base, id: `${layer.id}-label`, minzoom: 10.5, maxzoom: 15.5,
        metadata: {registry: layer.id, areaLabel: layer.style.label},
        layout: {'text-field': areaLabel(layer.style.label, 'fr'), 'text-font': REGULAR, 'text-size': 12, 'text-max-width': 8},
        paint: halo});
    } else {
      // One label per polygon at mid zooms; per visible piece of polygon when zoomed in.
      const layout = {'text-field': field, 'text-font': BOLD, 'text-size': 13.5};
      const paint = {...halo, 'text-color': '#333333'};
      layers.push({...base, id: `${layer.id}-label`, minzoom: Math.max(layer.min_zoom, 13.5),
        maxzoom: 15, layout, paint});
      layers.push({...base, id: `${layer.id}-label-near`, 'source-layer': layer.id,
        minzoom: Math.max(layer.min_zoom, 15), layout: {...layout, 'text-size': 15}, paint});
    }
  }
  const parcels = byId.parcels;
  if (parcels) {
    layers.push({id: 'parcels-label', type: 'symbol', ...zoomed(17.5, parcels),
      metadata: {registry: parcels.id},
      layout: {'text-field': ['get', 'ref'], 'text-font': REGULAR, 'text-size': 10},
      paint: {...halo, 'text-color': '#6b4f2a'}});
  }
  return layers;
}

function selectionLayers() {
  return [
    {id: 'selection-fill', type: 'fill', source: 'selection',
      paint: {'fill-color': PALETTE.selection, 'fill-opacity': 0.15}},
    {id: 'selection-line', type: 'line', source: 'selection',
      paint: {'line-color': PALETTE.selection, 'line-width': 3}},
  ];
}

/** The overlay: planning layers, boundaries, roads, plots, selection and labels. */
export function overlayLayers(config, {withBase}) {
  const byId = Object.fromEntries(config.layers.map((layer) => [layer.id, layer]));
  const baseIds = new Set(Object.values(config.base));
  const layers = withBase ? baseLayers(config, byId) : [];
  const planning = config.layers.filter((layer) => !baseIds.has(layer.id) && layer.id !== 'parcels');
  // Draw the large areas first, so smaller restrictions and boundaries stay visible.
  const order = (layer) => ({fill: 0, line: 2, circle: 3}[layer.style.kind] ?? 1)
    + (layer.style.hatched ? 1 : 0);
  planning.sort((a, b) => order(a) - order(b));
  for (const layer of planning) layers.push(...planningLayers(layer));
  if (withBase) layers.push(...districtLayers(config, byId));
  if (byId[config.base.roads]) layers.push(...roadLayers(byId[config.base.roads]));
  if (byId.parcels) {
    layers.push({id: 'parcels-line', type: 'line', ...zoomed(byId.parcels.min_zoom, byId.parcels),
      metadata: {registry: 'parcels'},
      paint: {'line-color': byId.parcels.style.color,
        'line-width': ['interpolate', ['linear'], ['zoom'], 15, 0.4, 19, 1.4],
        'line-opacity': ['interpolate', ['linear'], ['zoom'], 15, 0.45, 17, 0.9]}});
  }
  layers.push(...selectionLayers(), ...envelopeLayers(), ...drawLayers(), ...labelLayers(config, byId));
  return layers;
}

/** The sources: our tiles (absolute URL) and the selected plot. */
export function sources(config, tilesUrl) {
  return {
    [SOURCE]: {type: 'vector', tiles: [tilesUrl], minzoom: 0, maxzoom: config.tiles_maxzoom,
      bounds: config.bounds, attribution: 'Agence urbaine de Casablanca (démo synthétique)'},
    selection: {type: 'geojson', data: {type: 'FeatureCollection', features: []}},
    ...envelopeSources(),
    draw: {type: 'geojson', data: {type: 'FeatureCollection', features: []}},
  };
}

/** The whole style when the base map is ours. */
export function buildStyle(config, tilesUrl) {
  return {
    version: 8,
    name: 'Géoportail AUC',
    sources: sources(config, tilesUrl),
    layers: overlayLayers(config, {withBase: true}),
  };
}
