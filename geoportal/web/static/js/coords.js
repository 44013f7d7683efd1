// The pointer's coordinates in WGS 84 and in Merchich / Nord Maroc (EPSG:26191, via proj4js).

import {lonLat, metres} from './format.js';

export class CoordinateReadout {
  constructor({map, wgs84, local, crs}) {
    this.wgs84 = wgs84;
    this.local = local;
    this.crs = crs;
    this.toLocal = window.proj4('EPSG:4326', crs.proj4);
    this.pointerInside = false;
    map.on('mousemove', (event) => {
      this.pointerInside = true;
      this.show(event.lngLat);
    });
    map.on('mouseout', () => { this.pointerInside = false; });
    // Without a pointer over the map (touch screens, keyboard), show the centre of the map.
    map.on('moveend', () => {
      if (!this.pointerInside) this.show(map.getCenter());
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
