/**
 * The kubeconfig's current context (its namespace and user), read by kubectl's rules: --kubeconfig,
 * else the files of KUBECONFIG merged (the first to set a value wins), else ~/.kube/config; inside
 * a pod, the service account's namespace. Read with a YAML parser only: the Kubernetes client
 * would cost half a second at every start of the command line for two strings.
 */
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { load } from "js-yaml";
import { CliError } from "./errors.ts";

export interface KubeContext {
  readonly namespace: string | undefined;
  readonly user: string | undefined;
}

export interface KubeContextOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}

interface KubeconfigFile {
  readonly "current-context"?: string;
  readonly contexts?: readonly { name?: string; context?: { namespace?: string; user?: string } }[];
}

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function kubeconfigFiles(options: KubeContextOptions, env: NodeJS.ProcessEnv): string[] {
  if (options.kubeconfig) {
    if (!existsSync(options.kubeconfig))
      throw new CliError(`kubeconfig ${options.kubeconfig} does not exist`);
    return [options.kubeconfig];
  }
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter((path) => path && existsSync(path));
  const home = env.HOME ?? env.USERPROFILE;
  const path = home ? join(home, ".kube", "config") : undefined;
  return path && existsSync(path) ? [path] : [];
}

function parse(path: string): KubeconfigFile {
  try {
    const parsed = load(readFileSync(path, "utf8"));
    return parsed && typeof parsed === "object" ? (parsed as KubeconfigFile) : {};
  } catch (err) {
    throw new CliError(`cannot read kubeconfig ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
}

export function readKubeContext(options: KubeContextOptions = {}, env = process.env): KubeContext {
  const files = kubeconfigFiles(options, env).map(parse);
  if (files.length === 0) {
    const inCluster = env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountNamespace);
    if (options.context) throw new CliError(`no kubeconfig defines the context ${options.context}`);
    return {
      namespace: inCluster ? readFileSync(serviceAccountNamespace, "utf8").trim() : undefined,
      user: undefined,
    };
  }
  const name = options.context ?? files.find((file) => file["current-context"])?.["current-context"];
  if (!name) return { namespace: undefined, user: undefined };
  const context = files.flatMap((file) => file.contexts ?? []).find((entry) => entry.name === name)?.context;
  if (!context) {
    if (options.context) throw new CliError(`no kubeconfig defines the context ${options.context}`);
    return { namespace: undefined, user: undefined };
  }
  return { namespace: context.namespace || undefined, user: context.user || undefined };
}
