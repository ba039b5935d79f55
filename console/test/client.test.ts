import { describe, expect, it, vi } from 'vitest';
import { ApiError, buildPath, newClient, parseError, verifyKey } from '../src/api/client';

const answer = (status: number, body: unknown) =>
  new Response(body === undefined ? '' : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('client', () => {
  it('sends the key as a bearer header and never in the URL', async () => {
    const fetchFn = vi.fn(async () => answer(200, { ok: true }));
    const c = newClient('kz_secret', () => {}, fetchFn as unknown as typeof fetch);
    await c.get('/v1/merges', { customerId: 'cus_1', pageSize: 5, pageToken: '' });
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/v1/merges?customerId=cus_1&pageSize=5');
    expect(url).not.toContain('kz_secret');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer kz_secret');
    expect(init.credentials).toBe('omit');
  });

  it('turns an error body into the fields that were wrong', async () => {
    const body = {
      code: 3, message: 'journey.steps[0].send.text: is required',
      details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'journey.steps[0].send.text', description: 'is required' }] }],
    };
    const c = newClient('k', () => {}, (async () => answer(400, body)) as unknown as typeof fetch);
    const err = (await c.post("/v1/journeys", {}).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.violations).toEqual([{ field: 'journey.steps[0].send.text', description: 'is required' }]);
  });

  it('signs out on 401', async () => {
    const out = vi.fn();
    const c = newClient('k', out, (async () => answer(401, { code: 16, message: 'bad key' })) as unknown as typeof fetch);
    await expect(c.get('/v1/journeys')).rejects.toBeInstanceOf(ApiError);
    expect(out).toHaveBeenCalledOnce();
  });

  it('keeps a non-JSON error readable', () => {
    const e = parseError(502, undefined);
    expect(e.status).toBe(502);
    expect(e.violations).toEqual([]);
  });

  it('verifies a key in the body and as bearer, not the URL', async () => {
    const fetchFn = vi.fn(async () => answer(200, { workspaceId: 'ws_1', scopes: ['admin'] }));
    expect(await verifyKey('kz_x', fetchFn as unknown as typeof fetch)).toEqual({ workspaceId: 'ws_1', scopes: ['admin'] });
    const [url, init] = fetchFn.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/v1/apiKeys:verify');
    expect(JSON.parse(init.body as string)).toEqual({ apiKey: 'kz_x' });
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer kz_x');
  });

  it('repeats array query values', () => {
    expect(buildPath('/v1/customers:batchGet', { customerIds: ['a', 'b'] })).toBe('/v1/customers:batchGet?customerIds=a&customerIds=b');
  });
});
