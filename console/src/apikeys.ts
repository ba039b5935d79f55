// The API key form's rules, apart from the view so they are unit-tested:
// which scopes exist, what a valid form is, the body CreateAPIKey gets, and
// how a key's state reads. The created key itself never passes through
// here: the view keeps it in component state only (no URL, no log, no
// storage).
import type { APIKey, APIKeyKind } from './api/types';

/** The scopes of a secret key, in the order the form lists them (see APIKey in the API). */
export const scopes = [
  'profiles:read', 'profiles:write',
  'segments:read', 'segments:write',
  'campaigns:read', 'campaigns:write',
  'metrics:read', 'metrics:write',
  'track',
  'admin',
] as const;
export type Scope = (typeof scopes)[number];

export type KeyKind = Extract<APIKeyKind, 'API_KEY_KIND_WRITE' | 'API_KEY_KIND_SECRET'>;

export interface KeyForm {
  displayName: string;
  kind: KeyKind;
  scopes: Scope[];
}

export const emptyKeyForm = (): KeyForm => ({ displayName: '', kind: 'API_KEY_KIND_SECRET', scopes: [] });

/** What is wrong with a field of the form; the view words it from the messages. */
export type KeyFormProblem = 'required' | 'tooLong' | 'noScope';
export type KeyFormErrors = Partial<Record<'displayName' | 'scopes', KeyFormProblem>>;

/** A display name longer than this is refused before the call. */
export const maxNameLength = 200;

/** validateKeyForm names each wrong field; an empty result means the form can be sent. */
export function validateKeyForm(f: KeyForm): KeyFormErrors {
  const errs: KeyFormErrors = {};
  const name = f.displayName.trim();
  if (!name) errs.displayName = 'required';
  else if (name.length > maxNameLength) errs.displayName = 'tooLong';
  if (f.kind === 'API_KEY_KIND_SECRET' && f.scopes.length === 0) errs.scopes = 'noScope';
  return errs;
}

/** toggleScope adds or removes a scope, keeping the form's order. */
export function toggleScope(current: Scope[], scope: Scope, on: boolean): Scope[] {
  const set = new Set(current);
  if (on) set.add(scope);
  else set.delete(scope);
  return scopes.filter((s) => set.has(s));
}

/**
 * keyBody is the APIKey to create. A write key may only track, so it is
 * sent with exactly ["track"] whatever was ticked before switching kind;
 * a secret key gets its ticked scopes.
 */
export function keyBody(f: KeyForm): APIKey {
  return {
    displayName: f.displayName.trim(),
    kind: f.kind,
    scopes: f.kind === 'API_KEY_KIND_WRITE' ? ['track'] : scopes.filter((s) => f.scopes.includes(s)),
  };
}

/** A key is revoked once it has a revoke time (the zero time is none). */
export function isRevoked(k: APIKey): boolean {
  return !!k.revokeTime && new Date(k.revokeTime).getTime() > 0;
}

/**
 * canUseConsole tells whether a key with these scopes can use the console:
 * a key that may only track (a write key) cannot read anything. An unknown
 * set (a server that does not say) is given the benefit of the doubt.
 */
export function canUseConsole(keyScopes: string[] | undefined): boolean {
  if (!keyScopes || keyScopes.length === 0) return true;
  return keyScopes.some((s) => s !== 'track');
}
