import { useState, type FormEvent, type ReactNode } from "react";
import { del, errorText, get, post } from "../api";
import { ErrorBox, Loading } from "../components";
import { useLoad } from "../hooks";
import { useSession } from "../session";
import { formatTime } from "../time";
import type { Token } from "../wire";

export function TokensPage(): ReactNode {
  const session = useSession();
  const [tick, setTick] = useState(0);
  const { data, error } = useLoad((signal) => get<Token[]>("/auth/tokens", signal), [tick]);
  const [label, setLabel] = useState("");
  const [days, setDays] = useState("90");
  const [created, setCreated] = useState<Token | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  if (!session.auth) {
    return (
      <main>
        <h1>API tokens</h1>
        <p>This server runs without authentication: it has no tokens.</p>
      </main>
    );
  }
  const create = (e: FormEvent): void => {
    e.preventDefault();
    setActionError(null);
    const seconds = Number(days) > 0 ? Number(days) * 86400 : undefined;
    post<Token>("/auth/tokens", seconds ? { label, expires_in: seconds } : { label }).then(
      (t) => {
        setCreated(t);
        setLabel("");
        setTick((n) => n + 1);
      },
      (err: unknown) => setActionError(errorText(err)),
    );
  };
  const revoke = (t: Token): void => {
    if (!window.confirm(`Revoke token ${t.prefix}… (${t.label})? Programs using it stop working at once.`)) return;
    del(`/auth/tokens/${t.id}`).then(
      () => setTick((n) => n + 1),
      (err: unknown) => setActionError(errorText(err)),
    );
  };
  return (
    <main>
      <h1>API tokens of {session.me.name}</h1>
      <form onSubmit={create} className="inline">
        <label>
          Label <input name="label" value={label} onChange={(e) => setLabel(e.target.value)} required />
        </label>
        <label>
          Expires in (days, 0 = never){" "}
          <input name="days" type="number" min={0} max={3650} value={days} onChange={(e) => setDays(e.target.value)} />
        </label>
        <button type="submit">Create token</button>
      </form>
      {created?.token && (
        <div className="notice" role="status">
          <p>
            New token <strong>{created.label}</strong>: copy it now, it will not be shown again.
          </p>
          <pre className="mono" data-testid="new-token">
            {created.token}
          </pre>
        </div>
      )}
      <ErrorBox error={actionError ?? error} />
      {!data && !error && <Loading what="tokens" />}
      {data && (
        <table className="grid" data-testid="tokens">
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">Starts with</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="sr-only">actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {data.map((t) => (
              <tr key={t.id}>
                <td>{t.label}</td>
                <td className="mono">{t.prefix}…</td>
                <td>{formatTime(t.created_at)}</td>
                <td>{formatTime(t.last_used_at) || "never"}</td>
                <td>{formatTime(t.expires_at) || "never"}</td>
                <td>{t.revoked_at ? `revoked ${formatTime(t.revoked_at)}` : t.id === session.me.token_id ? "this session" : "active"}</td>
                <td>
                  {!t.revoked_at && (
                    <button type="button" onClick={() => revoke(t)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
