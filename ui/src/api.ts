// The only way the UI talks to the server: the public REST API under /api/v1.

const BASE = "/api/v1";
const TOKEN_KEY = "runtrack.token";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly position: number | null;

  constructor(status: number, code: string, message: string, position: number | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.position = position;
  }
}

export function getToken(): string | null {
  try {
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  if (token === null) window.localStorage.removeItem(TOKEN_KEY);
  else window.localStorage.setItem(TOKEN_KEY, token);
  window.dispatchEvent(new Event("runtrack-auth"));
}

function headers(json: boolean): Headers {
  const h = new Headers({ Accept: "application/json" });
  if (json) h.set("Content-Type", "application/json");
  const token = getToken();
  if (token) h.set("Authorization", `Bearer ${token}`);
  return h;
}

async function failure(resp: Response): Promise<ApiError> {
  let code = "error";
  let message = `${resp.status} ${resp.statusText}`;
  let position: number | null = null;
  try {
    const body: unknown = await resp.json();
    if (body && typeof body === "object" && "error" in body) {
      const err = (body as { error: Record<string, unknown> }).error;
      if (typeof err.code === "string") code = err.code;
      if (typeof err.message === "string") message = err.message;
      if (typeof err.position === "number") position = err.position;
    }
  } catch {
    // not JSON: keep the status line
  }
  if (resp.status === 401) window.dispatchEvent(new Event("runtrack-unauthenticated"));
  return new ApiError(resp.status, code, message, position);
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const resp = await fetch(BASE + path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "omit",
    cache: "no-store",
  });
  if (!resp.ok) throw await failure(resp);
  if (resp.status === 204) return undefined as T;
  const type = resp.headers.get("content-type") ?? "";
  if (type.includes("application/json")) return (await resp.json()) as T;
  return (await resp.text()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> =>
  request<T>("GET", path, undefined, signal);
export const post = <T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> =>
  request<T>("POST", path, body, signal);
export const put = <T>(path: string, body: unknown): Promise<T> => request<T>("PUT", path, body);
export const del = <T>(path: string): Promise<T> => request<T>("DELETE", path);

/** The bytes of a blob (an artifact file): fetched with the token, never navigated to. */
export async function blob(project: string, digest: string, signal?: AbortSignal): Promise<ArrayBuffer> {
  const resp = await fetch(`${BASE}/projects/${enc(project)}/blobs/${enc(digest)}`, {
    headers: headers(false),
    signal,
    credentials: "omit",
  });
  if (!resp.ok) throw await failure(resp);
  return resp.arrayBuffer();
}

export const enc = encodeURIComponent;

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
