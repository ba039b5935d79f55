// Messages and locale formatting. Every string the console shows comes from
// messages/<lang>.json; numbers, money and dates go through Intl in the
// chosen language and the workspace's time zone.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import en from './messages/en.json';
import ja from './messages/ja.json';

export type Lang = 'ja' | 'en';
export const langs: Lang[] = ['ja', 'en'];
export type MessageKey = keyof typeof en;
export type Params = Record<string, string | number>;

const catalogs: Record<Lang, Record<string, string>> = { en, ja };

/** format fills {name} placeholders; unknown names are left visible. */
export function format(template: string, params?: Params): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in params ? String(params[name]) : m,
  );
}

export interface I18n {
  lang: Lang;
  timeZone: string;
  t(key: MessageKey, params?: Params): string;
  /** Has the catalogue a message for key (for enum values and the like)? */
  has(key: string): boolean;
  /** tk translates a key built at run time, falling back to fallback. */
  tk(key: string, fallback: string, params?: Params): string;
  number(n: number | string | undefined, maxFractionDigits?: number): string;
  yen(n: number | string | undefined): string;
  percent(ratio: number | undefined): string;
  date(iso: string | undefined): string;
  dateTime(iso: string | undefined): string;
  /** dateParts formats an instant with the given fields, in the zone. */
  dateParts(ms: number, opts: Intl.DateTimeFormatOptions): string;
}

const locales: Record<Lang, string> = { ja: 'ja-JP', en: 'en-US' };

/** makeI18n builds the messages and formatters of one language and zone. */
export function makeI18n(lang: Lang, timeZone = 'Asia/Tokyo'): I18n {
  const cat = catalogs[lang];
  const locale = locales[lang];
  let zone = timeZone;
  try {
    new Intl.DateTimeFormat(locale, { timeZone: zone });
  } catch {
    zone = 'UTC';
  }
  const num = (max: number) => new Intl.NumberFormat(locale, { maximumFractionDigits: max });
  // Yen has no minor unit: no decimals, and the half-width ¥ in both
  // languages (ja-JP's currency style would print the full-width ￥).
  const yenFmt = new Intl.NumberFormat(locale, { maximumFractionDigits: 0, minimumFractionDigits: 0 });
  const pct = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 });
  const dateFmt = new Intl.DateTimeFormat(locale, { timeZone: zone, year: 'numeric', month: 'long', day: 'numeric' });
  const dtFmt = new Intl.DateTimeFormat(locale, {
    timeZone: zone, year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
  const toNum = (n: number | string | undefined) => (n === undefined || n === '' ? NaN : Number(n));
  const toDate = (iso: string | undefined) => (iso ? new Date(iso) : undefined);
  const valid = (d: Date | undefined): d is Date => !!d && !isNaN(d.getTime()) && d.getTime() > 0;
  return {
    lang,
    timeZone: zone,
    t: (key, params) => format(cat[key] ?? catalogs.en[key] ?? key, params),
    has: (key) => key in cat,
    tk: (key, fallback, params) => format(cat[key] ?? fallback, params),
    number: (n, max = 2) => {
      const v = toNum(n);
      return isNaN(v) ? '—' : num(max).format(v);
    },
    yen: (n) => {
      const v = toNum(n);
      if (isNaN(v)) return '—';
      const s = yenFmt.format(Math.abs(Math.round(v)));
      return (v < 0 ? '-' : '') + '¥' + s;
    },
    percent: (r) => (r === undefined || isNaN(r) ? '—' : pct.format(r)),
    date: (iso) => {
      const d = toDate(iso);
      return valid(d) ? dateFmt.format(d) : '—';
    },
    dateTime: (iso) => {
      const d = toDate(iso);
      return valid(d) ? dtFmt.format(d) : '—';
    },
    dateParts: (ms, opts) => new Intl.DateTimeFormat(locale, { timeZone: zone, ...opts }).format(new Date(ms)),
  };
}

/**
 * initialLang picks the language before the user chose one: a saved choice,
 * else Japanese for a workspace in Asia/Tokyo, else the browser's.
 */
export function initialLang(saved: string | null, workspaceZone: string | undefined, browser: string): Lang {
  if (saved === 'ja' || saved === 'en') return saved;
  if (workspaceZone === 'Asia/Tokyo') return 'ja';
  return browser.toLowerCase().startsWith('ja') ? 'ja' : 'en';
}

export const I18nContext = createContext<I18n>(makeI18n('ja'));
export const useI18n = () => useContext(I18nContext);
