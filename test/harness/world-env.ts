/**
 * How a test finds the shared test world: `npm test` (test/run.ts) starts it and passes its
 * addresses in environment variables. Each value is read when a test first uses it, so a test
 * needs only the parts of the world it touches.
 */

export const worldEnvNames = {
  dir: "DC_WORLD_DIR",
  kubeconfig: "DC_KUBECONFIG",
  operatorKubeconfig: "DC_KUBECONFIG_OPERATOR",
  temporalAddress: "TEMPORAL_ADDRESS",
  temporalNamespace: "DC_TEMPORAL_NAMESPACE",
  temporalUiUrl: "DC_TEMPORAL_UI_URL",
  prometheusUrl: "DC_PROMETHEUS_URL",
  prometheusTargetsDir: "DC_PROMETHEUS_TARGETS_DIR",
} as const;

export type WorldEnv = Readonly<Record<keyof typeof worldEnvNames, string>>;

export function worldEnv(env: NodeJS.ProcessEnv = process.env): WorldEnv {
  const world = {} as Record<keyof typeof worldEnvNames, string>;
  for (const [key, name] of Object.entries(worldEnvNames) as [keyof typeof worldEnvNames, string][]) {
    Object.defineProperty(world, key, {
      enumerable: true,
      get() {
        const value = env[name];
        if (!value)
          throw new Error(`${name} is not set: run the tests with \`npm test\` (it starts the test world)`);
        return value;
      },
    });
  }
  return world;
}
