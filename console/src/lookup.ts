// Which identity a search box entry is, so one box finds a customer by
// e-mail, phone, name, user id or customer id without a kind to pick.

export const lookupKinds = ['auto', 'email', 'phone', 'name', 'userId', 'customerId', 'anonymousId', 'lineUserId'] as const;
export type LookupKind = (typeof lookupKinds)[number];

/**
 * detectLookup guesses the kind of an entry: '@' is an e-mail, a dialable
 * number a phone, cus_ a customer id, Japanese (or other non-ASCII) text a
 * name, else a user id (which falls back to a name search when no customer
 * holds it).
 */
export function detectLookup(q: string): Exclude<LookupKind, 'auto'> {
  const s = q.trim();
  if (s.normalize('NFKC').includes('@')) return 'email';
  if (/^cus_[0-9a-f-]{8,}$/i.test(s)) return 'customerId';
  // Full-width digits and hyphens are common in Japanese forms.
  const ascii = s.normalize('NFKC');
  if (/^\+?[\d\s()-]{7,}$/.test(ascii) && ascii.replace(/\D/g, '').length >= 7) return 'phone';
  if (/[^\x00-\x7F]/.test(ascii) || /\s/.test(s)) return 'name';
  return 'userId';
}

/** lookupQuery is the query of GET /v1/customers:lookup for a kind. */
export function lookupQuery(kind: Exclude<LookupKind, 'auto' | 'customerId' | 'name'>, q: string): Record<string, string> {
  const param = { email: 'email', phone: 'phone', userId: 'user_id', anonymousId: 'anonymous_id', lineUserId: 'line_user_id' }[kind];
  return { [param]: q.trim() };
}
