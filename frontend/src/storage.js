// The tab's state kept across visits (selection, axis, toggles) in
// localStorage, per origin; the benchmark seeds it under the same key.

export const STORAGE_KEY = 'tb-lr-plugin/v1';

/** The saved state, or {} when none (or storage is off). */
export function loadState() {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    const parsed = raw ? JSON.parse(raw) : {};
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

export function saveState(state) {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch {
    /* storage disabled: the state lives for this page only */
  }
}
