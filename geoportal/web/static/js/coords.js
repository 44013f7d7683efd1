// The pointer's coordinates in WGS 84 and in Merchich / Nord Maroc (EPSG:26191, via proj4js).

import {lonLat, metres} from './format.js';

export class CoordinateReadout {
  constructor({map, wgs84, local, crs}) {
    this.wgs84 = wgs84;
    this.local = local;
    this.crs = crs;
    this.toLocal = window.proj4('EPSG:4326', crs.proj4);
    map.on('mousemove', (event) => this.show(event.lngLat));
    // On touch screens (no pointer), show the centre of the map.
    map.on('moveend', () => {
      if (!matchMedia('(hover: hover)').matches) this.show(map.getCenter());
    });
    this.show(map.getCenter());
  }

  /** Easting and northing in the local CRS, in metres. */
  project(lngLat) {
    return this.toLocal.forward([lngLat.lng, lngLat.lat]);
  }

  show(lngLat) {
    const [x, y] = this.project(lngLat);
    this.wgs84.textContent = `WGS 84 : ${lonLat(lngLat.lng, lngLat.lat)}`;
    this.local.textContent = `Nord Maroc : X ${metres(x)} · Y ${metres(y)}`;
    this.local.title = `${this.crs.title} (${this.crs.code})`;
    this.local.dataset.x = x.toFixed(1);
    this.local.dataset.y = y.toFixed(1);
    this.wgs84.dataset.lon = lngLat.lng.toFixed(6);
    this.wgs84.dataset.lat = lngLat.lat.toFixed(6);
  }
}
