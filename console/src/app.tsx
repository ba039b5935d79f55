import { createContext } from 'preact';
import { useContext, useEffect, useLayoutEffect, useMemo, useState } from 'preact/hooks';
import { newClient, type Client } from './api/client';
import type { Workspace } from './api/types';
import { I18nContext, initialLang, langs, makeI18n, type Lang, type MessageKey } from './i18n/i18n';
import { href, parseRoute, type Route } from './router';
import { clearSession, loadLang, loadSession, saveLang, saveSession, type Session } from './session';
import { BroadcastDetail, BroadcastEditor, Broadcasts } from './views/broadcasts';
import { Customers } from './views/customers';
import { Duplicates } from './views/duplicates';
import { Home } from './views/home';
import { JourneyDetail, JourneyEditor, Journeys } from './views/journeys';
import { Pdca } from './views/pdca';
import { RfmMap } from './views/rfm';
import { SegmentBuilder } from './views/segmentbuilder';
import { SegmentMembers, Segments } from './views/segments';
import { Settings } from './views/settings';
import { SignIn } from './views/signin';
import { canUseConsole } from './apikeys';
import { ErrorBox, isPermissionDenied } from './components/ui';

export interface AppCtx {
  api: Client;
  workspace: Workspace;
  setWorkspace(w: Workspace): void;
}
export const Ctx = createContext<AppCtx>(null as unknown as AppCtx);
export const useApp = () => useContext(Ctx);

/** The navigation: a view adds an entry here and a case in View. */
const nav: Array<{ view: Route['view']; label: MessageKey }> = [
  { view: 'home', label: 'nav.home' },
  { view: 'segments', label: 'nav.segments' },
  { view: 'customers', label: 'nav.customers' },
  { view: 'duplicates', label: 'nav.duplicates' },
  { view: 'journeys', label: 'nav.journeys' },
  { view: 'broadcasts', label: 'nav.broadcasts' },
  { view: 'pdca', label: 'nav.pdca' },
  { view: 'settings', label: 'nav.settings' },
];

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'home':
      return <Home />;
    case 'segments':
      return route.segmentId ? <SegmentMembers segmentId={route.segmentId} /> : <Segments />;
    case 'segmentNew':
      return <SegmentBuilder />;
    case 'rfm':
      return <RfmMap />;
    case 'pdca':
      return <Pdca />;
    case 'customers':
      return <Customers customerId={route.customerId} />;
    case 'duplicates':
      return <Duplicates />;
    case 'journeys':
      return <Journeys />;
    case 'journeyNew':
      return <JourneyEditor />;
    case 'journey':
      return <JourneyDetail journeyId={route.journeyId} />;
    case 'broadcasts':
      return <Broadcasts />;
    case 'broadcastNew':
      return <BroadcastEditor />;
    case 'broadcast':
      return <BroadcastDetail campaignId={route.campaignId} />;
    case 'settings':
      return <Settings />;
    case 'notFound':
      return <NotFound />;
  }
}

function NotFound() {
  const t = useContext(I18nContext);
  return (
    <p>
      {t.t('common.notFound')} <a href="#/home">{t.t('nav.home')}</a>
    </p>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [workspace, setWorkspace] = useState<Workspace | undefined>();
  const [chosen, setChosen] = useState<string | null>(() => loadLang());
  const [wsError, setWsError] = useState<unknown>();
  const route = useRoute();

  const signOut = () => {
    clearSession();
    setSession(null);
    setWorkspace(undefined);
  };
  const api = useMemo(() => (session ? newClient(session.key, signOut) : undefined), [session?.key]);

  useEffect(() => {
    if (!api || !session) return;
    api.get<{ workspace: Workspace }>(`/v1/workspaces/${encodeURIComponent(session.workspaceId)}`).then(
      (r) => setWorkspace(r.workspace),
      (e) => {
        setWsError(e);
        // A key without the scope to read the workspace still opens the
        // views its scopes allow (in the default time zone); the others
        // say which permission is missing.
        if (isPermissionDenied(e) && canUseConsole(session.scopes)) setWorkspace({ workspaceId: session.workspaceId });
      },
    );
  }, [api]);

  const lang: Lang = initialLang(chosen, workspace?.timezone || (workspace ? 'Asia/Tokyo' : undefined), navigator.language);
  const t = useMemo(() => makeI18n(lang, workspace?.timezone || 'Asia/Tokyo'), [lang, workspace?.timezone]);
  // Before paint, so assistive technology never reads a page in the wrong language.
  useLayoutEffect(() => {
    document.documentElement.lang = lang;
    document.title = t.t('app.title');
  }, [lang]);
  const switchLang = (l: Lang) => {
    saveLang(l);
    setChosen(l);
  };

  const langSwitch = (
    <div class="lang" role="group" aria-label={t.t('app.language')}>
      {langs.map((l) => (
        <button key={l} type="button" class="link" aria-pressed={l === lang} lang={l} onClick={() => switchLang(l)}>
          {t.t(`lang.${l}` as MessageKey)}
        </button>
      ))}
    </div>
  );

  if (!session || !api) {
    return (
      <I18nContext.Provider value={t}>
        <header class="top">
          <span class="brand">{t.t('app.title')}</span>
          {langSwitch}
        </header>
        <main id="main">
          <SignIn
            onSignedIn={(s) => {
              saveSession(s);
              setWsError(undefined);
              setSession(s);
            }}
          />
        </main>
      </I18nContext.Provider>
    );
  }

  return (
    <I18nContext.Provider value={t}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        {t.t('app.skip')}
      </a>
      <header class="top">
        <span class="brand">{t.t('app.title')}</span>
        <span class="muted ws">{workspace?.displayName ?? session.workspaceId}</span>
        {langSwitch}
        <button type="button" class="link" onClick={signOut}>{t.t('app.signOut')}</button>
      </header>
      <div class="layout">
        <nav aria-label={t.t('app.navigation')}>
          <ul>
            {nav.map((n) => (
              <li key={n.view}>
                <a
                  href={href({ view: n.view } as Route)}
                  aria-current={route.view === n.view || (n.view === 'journeys' && route.view.startsWith('journey')) || (n.view === 'broadcasts' && route.view.startsWith('broadcast')) || (n.view === 'segments' && (route.view === 'segmentNew' || route.view === 'rfm')) ? 'page' : undefined}
                >
                  {t.t(n.label)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {wsError && !canUseConsole(session.scopes) ? (
            <p role="alert" class="error">{t.t('signin.writeKey')}</p>
          ) : wsError && isPermissionDenied(wsError) ? (
            <ErrorBox error={wsError} />
          ) : wsError ? (
            <p role="alert" class="error">{t.t('app.workspaceError')}</p>
          ) : null}
          {workspace ? (
            <Ctx.Provider value={{ api, workspace, setWorkspace }}>
              <View route={route} />
            </Ctx.Provider>
          ) : (
            !wsError && <p class="muted">{t.t('common.loading')}</p>
          )}
        </main>
      </div>
    </I18nContext.Provider>
  );
}
