// The web geoportal: a MapLibre map on the service's own vector tiles, the rules panel,
// the search, the layer list and the coordinates. Everything comes from this service.

import {CoordinateReadout} from './coords.js';
import {LayerList} from './layers.js';
import {RulesPanel} from './panel.js';
import {installPatterns} from './patterns.js';
import {SearchBox} from './search.js';
import {buildStyle, overlayLayers, sources} from './style.js';

const LOCALE = {
  'AttributionControl.ToggleAttribution': 'Afficher ou masquer les crédits',
  'AttributionControl.MapFeedback': 'Signaler une erreur',
  'FullscreenControl.Enter': 'Plein écran',
  'FullscreenControl.Exit': 'Quitter le plein écran',
  'GeolocateControl.FindMyLocation': 'Me localiser',
  'GeolocateControl.LocationNotAvailable': 'Position indisponible',
  'LogoControl.Title': 'MapLibre',
  'Map.Title': 'Carte',
  'Marker.Title': 'Point sélectionné',
  'NavigationControl.ResetBearing': 'Réorienter vers le nord',
  'NavigationControl.ZoomIn': 'Zoom avant',
  'NavigationControl.ZoomOut': 'Zoom arrière',
  'Popup.Close': 'Fermer',
  'ScaleControl.Feet': 'ft',
  'ScaleControl.Meters': 'm',
  'ScaleControl.Kilometers': 'km',
  'ScaleControl.Miles': 'mi',
  'ScaleControl.NauticalMiles': 'nm',
  'TerrainControl.Enable': 'Activer le relief',
  'TerrainControl.Disable': 'Désactiver le relief',
  'CooperativeGesturesHandler.WindowsHelpText': 'Utilisez Ctrl + molette pour zoomer',
  'CooperativeGesturesHandler.MacHelpText': 'Utilisez ⌘ + molette pour zoomer',
  'CooperativeGesturesHandler.MobileHelpText': 'Utilisez deux doigts pour déplacer la carte',
};
const NARROW = matchMedia('(max-width: 760px)');

function absolute(path) {
  // Not new URL(path): it would percent-encode the {z}/{x}/{y} of a tile template.
  return new URL('./', document.baseURI).href + path;
}

async function fetchJSON(url) {
  let response;
  try {
    response = await fetch(url, {headers: {Accept: 'application/json'}});
  } catch {
    return {ok: false, status: 0, body: {description: 'Le service ne répond pas ; réessayez.'}};
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return {ok: response.ok, status: response.status, body};
}

function geometryBounds(geometry) {
  const bounds = new maplibregl.LngLatBounds();
  const walk = (coords) => {
    if (typeof coords[0] === 'number') bounds.extend(coords);
    else coords.forEach(walk);
  };
  walk(geometry.coordinates);
  return bounds;
}

class Geoportal {
  constructor(config) {
    this.config = config;
    this.marker = null;
    this.map = new maplibregl.Map({
      container: 'map',
      style: config.basemap_url || buildStyle(config, absolute(config.tiles)),
      bounds: config.bounds,
      // Leave room for the layer list on a wide screen.
      fitBoundsOptions: {padding: NARROW.matches ? 16 : {top: 24, bottom: 40, left: 320, right: 24}},
      hash: true,
      minZoom: 6,
      maxZoom: 20,
      locale: LOCALE,
      dragRotate: false,
      pitchWithRotate: false,
      touchPitch: false,
      attributionControl: {compact: true},
    });
    this.map.touchZoomRotate.disableRotation();
    this.map.keyboard.disableRotation();
    this.map.addControl(new maplibregl.NavigationControl({showCompass: false}), 'top-right');
    this.map.addControl(new maplibregl.FullscreenControl(), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({unit: 'metric', maxWidth: 130}), 'bottom-right');
    installPatterns(this.map, config);
    if (config.basemap_url) this.map.once('style.load', () => this.addOverlay());

    this.panel = new RulesPanel({
      panel: document.getElementById('info-panel'), body: document.getElementById('info-body'),
      close: document.getElementById('info-close'), config, onClose: () => this.clearSelection(),
    });
    this.panel.body.addEventListener('click', (event) => {
      if (event.target.id === 'copy-link') this.copyLink(event.target);
    });
    this.layers = new LayerList({container: document.getElementById('layer-list'), map: this.map, config});
    this.search = new SearchBox({
      input: document.getElementById('search-input'), list: document.getElementById('search-results'),
      endpoint: config.endpoints.search, onChoose: (result) => this.choose(result),
    });
    this.coords = new CoordinateReadout({
      map: this.map, wgs84: document.getElementById('coords-wgs84'),
      local: document.getElementById('coords-local'), crs: config.crs,
    });
    this.wireLayout();
    this.map.on('click', (event) => this.queryPoint(event.lngLat));
    this.map.getCanvas().addEventListener('keydown', (event) => {
      if (event.key === 'Enter') this.queryPoint(this.map.getCenter());
    });
    this.map.on('load', () => {
      this.layers.applyAll();
      const parcel = new URLSearchParams(location.search).get('parcel');
      if (parcel) this.queryParcel(parcel, {fit: true});
    });
    this.map.on('idle', () => { document.body.dataset.mapIdle = 'true'; });
    this.map.on('movestart', () => { document.body.dataset.mapIdle = 'false'; });
  }

  addOverlay() {
    const all = sources(this.config, absolute(this.config.tiles));
    for (const [id, source] of Object.entries(all)) this.map.addSource(id, source);
    for (const layer of overlayLayers(this.config, {withBase: false})) this.map.addLayer(layer);
  }

  wireLayout() {
    const toggle = document.getElementById('layers-toggle');
    const setOpen = (open) => {
      document.body.classList.toggle('layers-closed', !open);
      toggle.setAttribute('aria-expanded', String(open));
      setTimeout(() => this.map.resize(), 220);
    };
    setOpen(!NARROW.matches);
    toggle.addEventListener('click', () => setOpen(document.body.classList.contains('layers-closed')));
    document.querySelector('.layers-close').addEventListener('click', () => {
      setOpen(false);
      toggle.focus();
    });
  }

  padding() {
    if (NARROW.matches) return {top: 40, bottom: window.innerHeight * 0.5, left: 30, right: 30};
    const panel = this.panel.panel.hidden ? 0 : this.panel.panel.offsetWidth;
    return {top: 60, bottom: 60, left: 60, right: panel + 60};
  }

  setMarker(lngLat) {
    if (!this.marker) this.marker = new maplibregl.Marker({color: '#e4572e'});
    this.marker.setLngLat(lngLat).addTo(this.map);
  }

  setSelection(geometry) {
    const data = geometry
      ? {type: 'FeatureCollection', features: [{type: 'Feature', geometry, properties: {}}]}
      : {type: 'FeatureCollection', features: []};
    this.map.getSource('selection')?.setData(data);
  }

  clearSelection() {
    this.setSelection(null);
    this.marker?.remove();
    this.setParcelInUrl(null);
  }

  setParcelInUrl(ref) {
    const params = new URLSearchParams(location.search);
    if (ref) params.set('parcel', ref);
    else params.delete('parcel');
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }

  outsideTerritory(lngLat) {
    // Our land layer is drawn from the territories: no land under the point, no rules there.
    if (!this.map.getLayer('base-land')) return false;
    const point = this.map.project(lngLat);
    return this.map.queryRenderedFeatures(point, {layers: ['base-land']}).length === 0;
  }

  async queryPoint(lngLat) {
    this.setMarker(lngLat);
    if (this.outsideTerritory(lngLat)) {
      this.setSelection(null);
      this.setParcelInUrl(null);
      this.panel.error("Ce point est en dehors du territoire de l'Agence urbaine de Casablanca.");
      return;
    }
    this.panel.loading('Recherche des règles applicables en ce point…');
    const params = new URLSearchParams({lon: lngLat.lng.toFixed(7), lat: lngLat.lat.toFixed(7), geometry: 'true'});
    const {ok, body} = await fetchJSON(`${absolute(this.config.endpoints.rules)}?${params}`);
    if (!ok) {
      this.setSelection(null);
      this.setParcelInUrl(null);
      this.panel.error(body?.description ?? "Le renseignement n'a pas pu être obtenu.");
      return;
    }
    this.panel.show(body);
    this.setSelection(body.plot?.geometry ?? null);
    this.setParcelInUrl(body.plot?.ref ?? null);
  }

  async queryParcel(ref, {fit}) {
    this.panel.loading(`Recherche de la parcelle ${ref}…`);
    const params = new URLSearchParams({parcel: ref, geometry: 'true'});
    const {ok, body} = await fetchJSON(`${absolute(this.config.endpoints.rules)}?${params}`);
    if (!ok) {
      this.panel.error(body?.description ?? `La parcelle ${ref} est introuvable.`);
      return;
    }
    this.panel.show(body);
    this.setParcelInUrl(body.plot?.ref ?? ref);
    const geometry = body.plot?.geometry;
    this.setSelection(geometry ?? null);
    this.setMarker([body.location.lon, body.location.lat]);
    if (fit && geometry) {
      this.map.fitBounds(geometryBounds(geometry), {padding: this.padding(), maxZoom: 18, duration: 0});
    }
  }

  choose(result) {
    if (result.kind === 'parcel' && result.ref) {
      this.queryParcel(result.ref, {fit: true});
      return;
    }
    const [west, south, east, north] = result.bbox;
    this.map.fitBounds([[west, south], [east, north]], {padding: this.padding(), maxZoom: 15});
  }

  async copyLink(button) {
    try {
      await navigator.clipboard.writeText(location.href);
      button.textContent = 'Lien copié';
    } catch {
      button.textContent = 'Copiez l’adresse de la page';
    }
  }
}

async function main() {
  const {ok, body} = await fetchJSON(absolute('web/config.json'));
  if (!ok) {
    document.getElementById('map').innerHTML =
      '<p class="notice notice-error" role="alert">La configuration de la carte est indisponible.</p>';
    return;
  }
  window.geoportal = new Geoportal(body);
}

main();
