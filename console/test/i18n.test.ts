import { describe, expect, it } from 'vitest';
import en from '../src/i18n/messages/en.json';
import ja from '../src/i18n/messages/ja.json';
import { format, initialLang, makeI18n } from '../src/i18n/i18n';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

describe('message files', () => {
  it('have the same keys in both languages', () => {
    expect(Object.keys(ja).sort()).toEqual(Object.keys(en).sort());
  });
  it('have the same placeholders in both languages', () => {
    const holes = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort().join(',');
    for (const k of Object.keys(en) as Array<keyof typeof en>) {
      expect(holes(ja[k]), k).toBe(holes(en[k]));
    }
  });
  it('hold every key the code names', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.tsx?$/.test(f)) files.push(p);
      }
    };
    walk(join(import.meta.dirname, '../src'));
    const used = new Set<string>();
    for (const f of files) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\bt\.t\('([\w.]+)'/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(100);
    const missing = [...used].filter((k) => !(k in en));
    expect(missing).toEqual([]);
  });
});

describe('formatting', () => {
  it('writes yen without decimals and with the half-width sign', () => {
    expect(makeI18n('ja').yen(12345.6)).toBe('¥12,346');
    expect(makeI18n('en').yen('3450000')).toBe('¥3,450,000');
    expect(makeI18n('ja').yen(-500)).toBe('-¥500');
    expect(makeI18n('ja').yen(undefined)).toBe('—');
  });
  it('writes dates in the locale and the workspace time zone', () => {
    // 2026-12-04T20:00Z is already 5 December in Tokyo.
    expect(makeI18n('ja', 'Asia/Tokyo').date('2026-12-04T20:00:00Z')).toBe('2026年12月5日');
    expect(makeI18n('en', 'Asia/Tokyo').date('2026-12-04T20:00:00Z')).toBe('December 5, 2026');
    expect(makeI18n('en', 'UTC').date('2026-12-04T20:00:00Z')).toBe('December 4, 2026');
    expect(makeI18n('ja').date(undefined)).toBe('—');
    expect(makeI18n('ja').date('1970-01-01T00:00:00Z')).toBe('—');
  });
  it('falls back to UTC for an unknown zone', () => {
    expect(makeI18n('en', 'Mars/Olympus').timeZone).toBe('UTC');
  });
  it('writes ratios as percentages and counts with separators', () => {
    expect(makeI18n('ja').percent(0.256)).toBe('25.6%');
    expect(makeI18n('en').number('1234567', 0)).toBe('1,234,567');
  });
  it('fills placeholders', () => {
    expect(format('{a} and {b} and {c}', { a: 1, b: 'x' })).toBe('1 and x and {c}');
    expect(makeI18n('ja').t('home.basis', { customers: 3, orders: 5 })).toBe('顧客 3 人・注文 5 件');
  });
});

describe('initialLang', () => {
  it.each([
    ['en', 'Asia/Tokyo', 'ja-JP', 'en'],
    [null, 'Asia/Tokyo', 'en-US', 'ja'],
    [null, 'Europe/Berlin', 'en-US', 'en'],
    [null, 'Europe/Berlin', 'ja', 'ja'],
    [null, undefined, 'en-GB', 'en'],
    ['fr', undefined, 'ja-JP', 'ja'],
  ] as const)('saved %s, zone %s, browser %s → %s', (saved, zone, browser, want) => {
    expect(initialLang(saved, zone, browser)).toBe(want);
  });
});
