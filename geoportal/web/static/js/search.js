// The search box: suggestions as you type (plots by reference, communes by name), keyboard first.

import {esc} from './format.js';

const KINDS = {parcel: 'Parcelle', commune: 'Commune', prefecture: 'Préfecture', point: 'Point'};

export class SearchBox {
  constructor({input, list, endpoint, onChoose}) {
    this.input = input;
    this.list = list;
    this.endpoint = new URL(endpoint, document.baseURI);
    this.onChoose = onChoose;
    this.results = [];
    this.active = -1;
    this.timer = null;
    this.controller = null;
    input.addEventListener('input', () => this.schedule());
    input.addEventListener('keydown', (event) => this.key(event));
    input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    list.addEventListener('mousedown', (event) => event.preventDefault());
    list.addEventListener('click', (event) => {
      const item = event.target.closest('[role=option]');
      if (item) this.choose(Number(item.dataset.index));
    });
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fetch(), 120);
  }

  async fetch() {
    const q = this.input.value.trim();
    if (q.length < 2) {
      this.render([]);
      return;
    }
    this.controller?.abort();
    this.controller = new AbortController();
    const url = new URL(this.endpoint);
    url.search = new URLSearchParams({q, limit: '8'}).toString();
    try {
      const response = await fetch(url, {signal: this.controller.signal});
      if (!response.ok) return;
      const body = await response.json();
      if (body.query === this.input.value.trim()) this.render(body.results);
    } catch (error) {
      if (error.name !== 'AbortError') this.render([]);
    }
  }

  render(results) {
    this.results = results;
    this.active = results.length ? 0 : -1;
    if (!results.length) {
      const q = this.input.value.trim();
      this.list.innerHTML = q.length >= 2
        ? '<li class="empty" role="presentation">Aucun résultat : essayez « TF 12345/C », un nom de commune ou « 33.57, -7.59 ».</li>' : '';
      this.list.hidden = q.length < 2;
    } else {
      this.list.innerHTML = results.map((r, i) => `
        <li role="option" id="search-option-${i}" data-index="${i}" aria-selected="${i === 0}">
          <span class="kind kind-${esc(r.kind)}">${esc(KINDS[r.kind] ?? r.kind)}</span>
          <span class="label">${esc(r.label)}</span>
          <span class="detail">${esc(r.detail)}</span>
        </li>`).join('');
      this.list.hidden = false;
    }
    this.input.setAttribute('aria-expanded', String(!this.list.hidden));
    this.highlight();
  }

  highlight() {
    this.list.querySelectorAll('[role=option]').forEach((item, i) => {
      item.setAttribute('aria-selected', String(i === this.active));
      if (i === this.active) item.scrollIntoView({block: 'nearest'});
    });
    if (this.active >= 0) this.input.setAttribute('aria-activedescendant', `search-option-${this.active}`);
    else this.input.removeAttribute('aria-activedescendant');
  }

  key(event) {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      if (!this.results.length) return;
      event.preventDefault();
      const step = event.key === 'ArrowDown' ? 1 : -1;
      this.active = (this.active + step + this.results.length) % this.results.length;
      this.highlight();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      if (this.active >= 0) this.choose(this.active);
      else this.fetch();
    } else if (event.key === 'Escape') {
      this.close();
    }
  }

  choose(index) {
    const result = this.results[index];
    if (!result) return;
    this.input.value = result.label;
    this.close();
    this.onChoose(result);
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }
}
