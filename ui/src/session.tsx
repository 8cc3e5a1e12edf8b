// Who is signed in, and what they may do (the server refuses edits anyway).
import { createContext, useContext } from "react";
import type { Me } from "./wire";

export interface Session {
  me: Me;
  /** False on a server without authentication (no tokens, no sign-in). */
  auth: boolean;
}

export const SessionContext = createContext<Session>({
  me: { name: "local", admin: true, token_id: null, projects: {} },
  auth: false,
});

export const useSession = (): Session => useContext(SessionContext);

/** May the signed-in user change things (runs, aliases) in ``project``? */
export function canEdit(session: Session, project: string): boolean {
  if (session.me.admin) return true;
  const role = session.me.projects[project];
  return role === "editor" || role === "admin";
}
