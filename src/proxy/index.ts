// sluice/proxy: the adaptive reverse proxy behind `sluice proxy`, for embedding (undici is a dependency).

export {
  isProxyConfigError,
  loadProxyConfig,
  ProxyConfigError,
  type ProxyOptions,
  type ProxySettings,
  parseProxyConfig,
} from './config.ts';
export { createProxy, type ReverseProxy } from './proxy.ts';
export { type RouteSpec, RouteTable } from './routes.ts';
