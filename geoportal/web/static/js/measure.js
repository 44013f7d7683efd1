// Lengths and areas in Merchich / Nord Maroc metres (EPSG:26191, via proj4js), as the rules.

let toLocal = null;

/** Set the projection once, from the configuration. */
export function setProjection(crs) {
  toLocal = window.proj4('EPSG:4326', crs.proj4);
}

function local(points) {
  return points.map(([lon, lat]) => toLocal.forward([lon, lat]));
}

/** Length of a path of [lon, lat] points, in metres. */
export function pathLength(points) {
  const xy = local(points);
  let total = 0;
  for (let i = 1; i < xy.length; i += 1) total += Math.hypot(xy[i][0] - xy[i - 1][0], xy[i][1] - xy[i - 1][1]);
  return total;
}

/** Area of the polygon closing a path of [lon, lat] points, in square metres. */
export function polygonArea(points) {
  const xy = local(points);
  let twice = 0;
  for (let i = 0; i < xy.length; i += 1) {
    const [x1, y1] = xy[i];
    const [x2, y2] = xy[(i + 1) % xy.length];
    twice += x1 * y2 - x2 * y1;
  }
  return Math.abs(twice) / 2;
}
