// The one module through which kubecache uses @kubernetes/client-node.
//
// Why one module: client-node 2.x is about a thousand ES modules, and loading
// them cost the runner's main process about 1.2 CPU-seconds on every run (the
// largest single cost of a warm run, see docs/figures.md). The package build
// (test/consumers/build-dist.mjs) replaces this file's compiled output with
// one bundled, minified file holding client-node and its dependencies, which
// loads in about a third of that. Tests run this source file against the
// installed client-node; the packed package runs the bundle. Both are the
// same client-node code, so behaviour does not differ between them.
//
// Types still come from the installed package (declarations are not bundled).
export type * from '@kubernetes/client-node';
export {
  AuthorizationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  NetworkingV1Api,
  Observable,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
