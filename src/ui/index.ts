/**
 * The web dashboard of one namespace: an HTTP server on loopback that hands the page that namespace's credentials,
 * and the page itself (in `page/`, bundled for the browser), which reads nodes, workloads, logs and events straight
 * from NATS over websocket.
 *
 * ```ts
 * const access = pageAccessSource({ namespace: "default", wsServers: ["ws://127.0.0.1:4280"], home });
 * const ui = await startDashboard({ host: "127.0.0.1", port: 4290, wsServers: ["ws://127.0.0.1:4280"], token: dashboardToken(home), access });
 * console.log(ui.url);
 * ```
 */
export { PAGE_USER_TTL_MS, dashboardToken, pageAccessSource } from "./access.js";
export type { AccessOptions } from "./access.js";
export { pageAssets, writePageBundle } from "./bundle.js";
export type { PageAssets } from "./bundle.js";
export type { PageAccess } from "./model.js";
export { isLoopback, startDashboard } from "./server.js";
export type { Dashboard, DashboardOptions } from "./server.js";
