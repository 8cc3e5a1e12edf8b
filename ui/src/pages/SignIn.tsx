import { useState, type FormEvent, type ReactNode } from "react";
import { errorText, post, setToken } from "../api";
import { ErrorBox } from "../components";
import { navigate, paths } from "../router";
import type { Token } from "../wire";

export function SignInPage(): ReactNode {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [token, setTokenText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signIn = (e: FormEvent): void => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    post<Token>("/auth/login", { user, password, label: "web sign-in" }).then(
      (t) => {
        setBusy(false);
        if (t.token) {
          setToken(t.token);
          if (window.location.pathname.startsWith("/ui/signin")) navigate(paths.projects());
        }
      },
      (err: unknown) => {
        setBusy(false);
        setError(errorText(err));
      },
    );
  };
  const useToken = (e: FormEvent): void => {
    e.preventDefault();
    setToken(token.trim());
    if (window.location.pathname.startsWith("/ui/signin")) navigate(paths.projects());
  };
  return (
    <main className="narrow">
      <h1>Sign in to runtrack</h1>
      <form onSubmit={signIn} className="stack" aria-label="Sign in with a password">
        <label>
          User name
          <input name="user" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} required />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorBox error={error} />
      </form>
      <details>
        <summary>Use an API token instead</summary>
        <form onSubmit={useToken} className="stack" aria-label="Sign in with an API token">
          <label>
            API token
            <input name="token" type="password" value={token} onChange={(e) => setTokenText(e.target.value)} required />
          </label>
          <button type="submit">Use token</button>
        </form>
      </details>
      <p className="muted small">The token is kept in this browser's local storage until you sign out.</p>
    </main>
  );
}
