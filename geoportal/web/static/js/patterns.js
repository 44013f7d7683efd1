// Hatch patterns for hatched layers (servitudes), drawn on a canvas: one per legend class.

import {hatchName} from './style.js';

const SIZE = 16;
const RATIO = 2;

/** A canvas with diagonal hatching of that colour, at the device's pixel ratio. */
export function hatchCanvas(colour, ratio = RATIO) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIZE * ratio;
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.6;
  ctx.lineCap = 'square';
  ctx.beginPath();
  // Three strokes so the pattern tiles seamlessly.
  for (const offset of [-SIZE, 0, SIZE]) {
    ctx.moveTo(offset, SIZE);
    ctx.lineTo(offset + SIZE, 0);
  }
  ctx.stroke();
  return canvas;
}

/** Every hatch image the style refers to, by name. */
export function hatchImages(config) {
  const images = {};
  for (const layer of config.layers) {
    if (!layer.style.hatched) continue;
    images[hatchName(layer.id)] = layer.style.color;
    for (const entry of layer.style.classes) images[hatchName(layer.id, entry.value)] = entry.color;
  }
  return images;
}

/** Add the hatch images to the map, now and whenever the style asks for a missing one. */
export function installPatterns(map, config) {
  const images = hatchImages(config);
  const add = (name) => {
    if (!(name in images) || map.hasImage(name)) return;
    const canvas = hatchCanvas(images[name]);
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    map.addImage(name, data, {pixelRatio: RATIO});
  };
  map.on('styleimagemissing', (event) => add(event.id));
  return add;
}
