// Hash routes: the gateway serves one index.html and the view lives after
// the '#', so a reload or a shared link opens the same view and no route
// needs a server-side fallback. Ids in routes are resource ids, never keys.

export type Route =
  | { view: 'home' }
  | { view: 'segments'; segmentId?: string }
  | { view: 'segmentNew' }
  | { view: 'rfm' }
  | { view: 'customers'; customerId?: string }
  | { view: 'duplicates' }
  | { view: 'journeys' }
  | { view: 'journey'; journeyId: string }
  | { view: 'journeyNew' }
  | { view: 'broadcasts' }
  | { view: 'broadcast'; campaignId: string }
  | { view: 'broadcastNew' }
  | { view: 'settings' }
  | { view: 'pdca' }
  | { view: 'notFound' };

/** parseRoute reads a location hash such as "#/customers/cus_1". */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [head, id] = parts;
  switch (head) {
    case undefined:
    case 'home':
      return { view: 'home' };
    case 'customers':
      return id ? { view: 'customers', customerId: id } : { view: 'customers' };
    case 'segments':
      if (id === 'new') return { view: 'segmentNew' };
      return id ? { view: 'segments', segmentId: id } : { view: 'segments' };
    case 'rfm':
      return { view: 'rfm' };
    case 'duplicates':
      return { view: 'duplicates' };
    case 'journeys':
      if (id === 'new') return { view: 'journeyNew' };
      return id ? { view: 'journey', journeyId: id } : { view: 'journeys' };
    case 'broadcasts':
      if (id === 'new') return { view: 'broadcastNew' };
      return id ? { view: 'broadcast', campaignId: id } : { view: 'broadcasts' };
    case 'settings':
      return { view: 'settings' };
    case 'pdca':
      return { view: 'pdca' };
    default:
      return { view: 'notFound' };
  }
}

/** href is the link to a route. */
export function href(r: Route): string {
  switch (r.view) {
    case 'customers':
      return r.customerId ? `#/customers/${encodeURIComponent(r.customerId)}` : '#/customers';
    case 'segments':
      return r.segmentId ? `#/segments/${encodeURIComponent(r.segmentId)}` : '#/segments';
    case 'journey':
      return `#/journeys/${encodeURIComponent(r.journeyId)}`;
    case 'journeyNew':
      return '#/journeys/new';
    case 'broadcast':
      return `#/broadcasts/${encodeURIComponent(r.campaignId)}`;
    case 'broadcastNew':
      return '#/broadcasts/new';
    case 'segmentNew':
      return '#/segments/new';
    case 'notFound':
      return '#/';
    default:
      return `#/${r.view}`;
  }
}

export function navigate(r: Route): void {
  location.hash = href(r);
}
