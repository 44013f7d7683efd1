// The plot in 3D: its buildable envelope (from /rules?...&envelope=true) extruded to the
// maximum height, and the neighbours' envelopes (from /rules/neighbours) extruded faintly
// around it. When an answer has no envelope (a drawn outline), the plot itself is shown at
// its zone's maximum height, and the panel says so.

export const ENVELOPE_LAYERS = ['envelope-neighbours', 'envelope-3d', 'envelope-plot'];
export const NEIGHBOUR_OPACITY = 0.28;
export const ENVELOPE_OPACITY = 0.72;
const EMPTY = {type: 'FeatureCollection', features: []};

/** The 3D layers: the neighbours faint, the plot flat, the envelope extruded (heights from
 * the features). */
export function envelopeLayers() {
  return [
    {id: 'envelope-neighbours', type: 'fill-extrusion', source: 'envelope-neighbours',
      paint: {'fill-extrusion-color': '#8c96a3', 'fill-extrusion-height': ['get', 'height'],
        'fill-extrusion-base': 0, 'fill-extrusion-opacity': NEIGHBOUR_OPACITY}},
    {id: 'envelope-plot', type: 'fill', source: 'envelope', filter: ['==', ['get', 'part'], 'plot'],
      paint: {'fill-color': '#e4572e', 'fill-opacity': 0.25}},
    {id: 'envelope-3d', type: 'fill-extrusion', source: 'envelope',
      filter: ['==', ['get', 'part'], 'envelope'],
      paint: {'fill-extrusion-color': ['case', ['get', 'approximate'], '#9aa4b1', '#2b8cbe'],
        'fill-extrusion-height': ['get', 'height'], 'fill-extrusion-base': 0,
        'fill-extrusion-opacity': ENVELOPE_OPACITY}},
  ];
}

/** The sources of the 3D layers (empty until a plot is shown in 3D). */
export function envelopeSources() {
  return {envelope: {type: 'geojson', data: EMPTY}, 'envelope-neighbours': {type: 'geojson', data: EMPTY}};
}

function zoneHeight(answer) {
  const heights = answer.zones.map((z) => z.rules.max_height_m).filter((h) => h !== null && h !== undefined);
  return heights.length ? Math.min(...heights) : null;
}

/** The features of the 3D view of an answer; ``state`` is 'envelope' (extruded to the
 * answer's height), 'none' (nothing can be built: the plot flat) or 'approximate' (no
 * envelope in the answer: the plot at its zone's height). */
export function envelopeFeatures(answer) {
  const features = [];
  const plot = answer.plot?.geometry;
  if (plot) features.push({type: 'Feature', geometry: plot, properties: {part: 'plot'}});
  const envelope = answer.envelope;
  if (envelope && !envelope.buildable) return {features, state: 'none'};
  if (envelope?.geometry && envelope.max_height_m) {
    features.push({type: 'Feature', geometry: envelope.geometry,
      properties: {part: 'envelope', height: envelope.max_height_m, approximate: false,
        levels: envelope.max_levels ?? null}});
    return {features, state: 'envelope'};
  }
  const height = zoneHeight(answer);
  if (plot && height) {
    features.push({type: 'Feature', geometry: plot,
      properties: {part: 'envelope', height, approximate: true}});
  }
  return {features, state: 'approximate'};
}

/** The neighbours' envelopes that can be extruded (a geometry and a height). */
export function neighbourFeatures(collection) {
  return (collection?.features ?? [])
    .filter((f) => f.geometry && f.properties.buildable && f.properties.max_height_m)
    .map((f) => ({type: 'Feature', geometry: f.geometry,
      properties: {ref: f.properties.ref, height: f.properties.max_height_m,
        levels: f.properties.max_levels ?? null}}));
}

export class EnvelopeView {
  constructor(map) {
    this.map = map;
    this.on = false;
    this.shown = null;  // what is drawn, to draw it again after a change of base map
  }

  show(answer, neighbours = null) {
    const {features, state} = envelopeFeatures(answer);
    const around = neighbourFeatures(neighbours);
    this.shown = {answer, neighbours};
    this.draw(features, around);
    this.on = true;
    this.map.dragRotate.enable();
    this.map.touchZoomRotate.enableRotation();
    this.map.keyboard.enableRotation();
    this.map.easeTo({pitch: 60, bearing: this.map.getBearing() || -20, duration: 600});
    return {state, count: features.length, neighbours: around.length};
  }

  draw(features, around) {
    this.map.getSource('envelope')?.setData({type: 'FeatureCollection', features});
    this.map.getSource('envelope-neighbours')?.setData({type: 'FeatureCollection', features: around});
  }

  /** Draw again what was shown (the style, and its sources, were replaced). */
  redraw() {
    if (!this.on || !this.shown) return;
    this.draw(envelopeFeatures(this.shown.answer).features, neighbourFeatures(this.shown.neighbours));
  }

  hide() {
    if (!this.on) return;
    this.on = false;
    this.shown = null;
    this.draw([], []);
    this.map.easeTo({pitch: 0, bearing: 0, duration: 400});
  }
}
