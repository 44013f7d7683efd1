// French formatting of numbers, areas, dates and coordinates, and safe HTML building.

const numbers = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 2});
const integers = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 0});

/** Escape text for HTML. */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
}

/** A number in French (comma decimals), or a dash. */
export function num(value) {
  return value === null || value === undefined ? '–' : numbers.format(value);
}

/** An area in m², rounded. */
export function area(value) {
  return value === null || value === undefined ? '–' : `${integers.format(value)} m²`;
}

/** A percentage, one decimal. */
export function pct(value) {
  return value === null || value === undefined ? '' : `${numbers.format(Math.round(value * 10) / 10)} %`;
}

/** A date (YYYY-MM-DD) in French. */
export function date(value) {
  if (!value) return '–';
  const [y, m, d] = value.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('fr-FR', {
    day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC'});
}

/** Levels as the agency writes them: R+n. */
export function levels(value) {
  return value === null || value === undefined ? '–' : value === 0 ? 'R' : `R+${value}`;
}

/** Latitude and longitude in degrees, with N/S and E/O. */
export function lonLat(lon, lat) {
  const f = (v) => Math.abs(v).toLocaleString('fr-FR', {minimumFractionDigits: 5, maximumFractionDigits: 5});
  return `${f(lat)}° ${lat >= 0 ? 'N' : 'S'}, ${f(lon)}° ${lon >= 0 ? 'E' : 'O'}`;
}

/** Metres, whole, with thin grouping. */
export function metres(value) {
  return `${integers.format(value)} m`;
}
