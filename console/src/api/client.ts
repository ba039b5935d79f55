// The console's only way to the server: fetch on the gateway's public REST
// API, with the signed-in key as a bearer token. The key travels in the
// Authorization header only, never in a URL, so it cannot reach a request
// log, the browser history or a Referer.

/** One wrong field, as the backends name it in google.rpc.BadRequest. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** An answer other than 2xx, in grpc-gateway's error shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly violations: FieldViolation[],
    /** The scopes that would allow a call refused for lack of one (google.rpc.ErrorInfo SCOPE_MISSING). */
    readonly missingScopes: string[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface ErrorBody {
  code?: number;
  message?: string;
  details?: Array<{
    '@type'?: string;
    fieldViolations?: FieldViolation[];
    reason?: string;
    metadata?: Record<string, string>;
  }>;
}

/** parseError turns an error answer's body into an ApiError. */
export function parseError(status: number, body: unknown): ApiError {
  const b = (body && typeof body === 'object' ? body : {}) as ErrorBody;
  const violations: FieldViolation[] = [];
  let missingScopes: string[] = [];
  for (const d of b.details ?? []) {
    if (d['@type']?.endsWith('google.rpc.BadRequest')) {
      for (const v of d.fieldViolations ?? []) {
        violations.push({ field: v.field ?? '', description: v.description ?? '' });
      }
    }
    if (d['@type']?.endsWith('google.rpc.ErrorInfo') && d.reason === 'SCOPE_MISSING') {
      missingScopes = (d.metadata?.scopes ?? '').split(' ').filter(Boolean);
    }
  }
  return new ApiError(status, b.code ?? 0, b.message ?? '', violations, missingScopes);
}

export type Query = Record<string, string | number | boolean | string[] | undefined>;

/** buildPath appends the defined query values to path, URL-encoded. */
export function buildPath(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export interface Client {
  get<T>(path: string, query?: Query): Promise<T>;
  /** text is a GET whose answer is read as text (a Markdown summary), not JSON. */
  text(path: string, query?: Query): Promise<string>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, query?: Query): Promise<T>;
  del<T>(path: string): Promise<T>;
}

/**
 * newClient returns a client that sends key as `Authorization: Bearer`.
 * onUnauthenticated runs on any 401, so an expired or revoked key signs the
 * user out instead of leaving every view broken.
 */
export function newClient(
  key: string,
  onUnauthenticated: () => void = () => {},
  fetchFn: typeof fetch = (...a) => fetch(...a),
): Client {
  async function call<T>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetchFn(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    const text = await res.text();
    if (raw && res.ok) return text as T;
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { message: text.slice(0, 200) };
      }
    }
    if (!res.ok) {
      if (res.status === 401) onUnauthenticated();
      throw parseError(res.status, parsed);
    }
    return parsed as T;
  }
  return {
    get: (path, query) => call('GET', buildPath(path, query)),
    text: (path, query) => call<string>('GET', buildPath(path, query), undefined, true),
    post: (path, body) => call('POST', path, body ?? {}),
    patch: (path, body, query) => call('PATCH', buildPath(path, query), body),
    del: (path) => call('DELETE', path),
  };
}

/** What the gateway says about a key at sign-in. */
export interface KeyInfo {
  workspaceId: string;
  /** The key's scopes; empty when the server does not say. */
  scopes: string[];
}

/**
 * verifyKey asks which workspace a key belongs to and what it may do. The
 * key goes in the body and as bearer token (the endpoint answers only
 * services and the key itself), never in the URL.
 */
export async function verifyKey(key: string, fetchFn: typeof fetch = (...a) => fetch(...a)): Promise<KeyInfo> {
  const res = await fetchFn('/v1/apiKeys:verify', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ apiKey: key }),
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw parseError(res.status, body);
  const { workspaceId, scopes } = body as { workspaceId?: string; scopes?: string[] };
  if (!workspaceId) throw new ApiError(res.status, 16, '', []);
  return { workspaceId, scopes: scopes ?? [] };
}
