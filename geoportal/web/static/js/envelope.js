// The plot in 3D: its buildable envelope (from /rules?...&envelope=true) extruded to the
// maximum height. When the service does not give an envelope yet, the plot itself is shown
// at its zone's maximum height, and the panel says so.

export const ENVELOPE_LAYERS = ['envelope-3d', 'envelope-plot'];

/** The 3D layers: the plot flat, the envelope extruded (its height from the feature). */
export function envelopeLayers() {
  return [
    {id: 'envelope-plot', type: 'fill', source: 'envelope', filter: ['==', ['get', 'part'], 'plot'],
      paint: {'fill-color': '#e4572e', 'fill-opacity': 0.25}},
    {id: 'envelope-3d', type: 'fill-extrusion', source: 'envelope',
      filter: ['==', ['get', 'part'], 'envelope'],
      paint: {'fill-extrusion-color': ['case', ['get', 'approximate'], '#9aa4b1', '#2b8cbe'],
        'fill-extrusion-height': ['get', 'height'], 'fill-extrusion-base': 0,
        'fill-extrusion-opacity': 0.72}},
  ];
}

function zoneHeight(answer) {
  const heights = answer.zones.map((z) => z.rules.max_height_m).filter((h) => h !== null && h !== undefined);
  return heights.length ? Math.min(...heights) : null;
}

/** The features of the 3D view of an answer, and whether they are approximate. */
export function envelopeFeatures(answer) {
  const features = [];
  const plot = answer.plot?.geometry;
  if (plot) features.push({type: 'Feature', geometry: plot, properties: {part: 'plot'}});
  const envelope = answer.envelope;
  if (envelope?.geometry && envelope.max_height_m) {
    features.push({type: 'Feature', geometry: envelope.geometry,
      properties: {part: 'envelope', height: envelope.max_height_m, approximate: false,
        levels: envelope.max_levels ?? null}});
    return {features, approximate: false};
  }
  const height = zoneHeight(answer);
  if (plot && height) {
    features.push({type: 'Feature', geometry: plot,
      properties: {part: 'envelope', height, approximate: true}});
  }
  return {features, approximate: true};
}

export class EnvelopeView {
  constructor(map) {
    this.map = map;
    this.on = false;
  }

  show(answer) {
    const {features, approximate} = envelopeFeatures(answer);
    this.map.getSource('envelope')?.setData({type: 'FeatureCollection', features});
    this.on = true;
    this.map.dragRotate.enable();
    this.map.touchZoomRotate.enableRotation();
    this.map.keyboard.enableRotation();
    this.map.easeTo({pitch: 60, bearing: this.map.getBearing() || -20, duration: 600});
    return {approximate, count: features.length};
  }

  hide() {
    if (!this.on) return;
    this.on = false;
    this.map.getSource('envelope')?.setData({type: 'FeatureCollection', features: []});
    this.map.easeTo({pitch: 0, bearing: 0, duration: 400});
  }
}
