// The signed-in key lives in sessionStorage: it is gone when the tab
// closes, it is never written to localStorage, a cookie or a URL, and the
// console never logs it.
const keyItem = 'kizuna.apiKey';
const langItem = 'kizuna.lang';

export interface Session {
  key: string;
  workspaceId: string;
  /** The key's scopes as the gateway told at sign-in (empty: not told). */
  scopes?: string[];
}

export function loadSession(store: Storage = sessionStorage): Session | null {
  try {
    const raw = store.getItem(keyItem);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<Session>;
    if (!s.key || !s.workspaceId) return null;
    return { key: s.key, workspaceId: s.workspaceId, ...(Array.isArray(s.scopes) && { scopes: s.scopes.map(String) }) };
  } catch {
    return null;
  }
}

export function saveSession(s: Session, store: Storage = sessionStorage): void {
  store.setItem(keyItem, JSON.stringify(s));
}

export function clearSession(store: Storage = sessionStorage): void {
  store.removeItem(keyItem);
}

// The language choice is no secret and outlives the tab.
export function loadLang(store: Storage = localStorage): string | null {
  try {
    return store.getItem(langItem);
  } catch {
    return null;
  }
}

export function saveLang(lang: string, store: Storage = localStorage): void {
  try {
    store.setItem(langItem, lang);
  } catch {
    // Storage can be disabled; the choice then lasts until reload.
  }
}
