/**
 * What every command shares: the options common to all of them, the Kubernetes namespace and user
 * from the kubeconfig (read only when an option does not give them), the output format, and one
 * Temporal connection opened on first use and closed when the command ends.
 */
import { userInfo } from "node:os";
import { CliError } from "./errors.ts";
import { type KubeContext, readKubeContext } from "./kube-context.ts";
import { type CliTemporal, checkName, connectTemporal } from "./temporal.ts";

export interface CommonOptions {
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  output?: string;
  uiAddress?: string;
}

export type OutputFormat = "text" | "json";

export class CliContext {
  private kube: KubeContext | undefined;
  private temporal: Promise<CliTemporal> | undefined;
  private address: string | undefined;
  readonly output: OutputFormat;
  readonly options: CommonOptions;
  readonly env: NodeJS.ProcessEnv;

  constructor(options: CommonOptions, env: NodeJS.ProcessEnv = process.env) {
    this.options = options;
    this.env = env;
    const output = options.output ?? "text";
    if (output !== "text" && output !== "json") {
      throw new CliError(
        `unknown output format ${JSON.stringify(output)}: use -o json, or leave -o out for text`,
      );
    }
    this.output = output;
  }

  private kubeContext(): KubeContext {
    this.kube ??= readKubeContext(
      { kubeconfig: this.options.kubeconfig, context: this.options.context },
      this.env,
    );
    return this.kube;
  }

  /** -n, else the kubeconfig context's namespace, else `default`, as kubectl does. */
  namespace(): string {
    return checkName("namespace", this.options.namespace ?? this.kubeContext().namespace ?? "default");
  }

  /** Who sends a command: --by, else the kubeconfig context's user, else the OS user. */
  by(given: string | undefined): string {
    if (given) return given;
    const kubeUser = this.kubeContext().user;
    if (kubeUser) return kubeUser;
    try {
      return userInfo().username;
    } catch {
      return "unknown";
    }
  }

  connect(): Promise<CliTemporal> {
    this.temporal ??= connectTemporal({ uiAddress: this.options.uiAddress }, this.env).then((t) => {
      this.address = t.address;
      return t;
    });
    return this.temporal;
  }

  /** The Temporal server's address once connected, for error messages. */
  temporalAddress(): string | undefined {
    return this.address;
  }

  print(text: string): void {
    process.stdout.write(text);
  }

  json(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  async close(): Promise<void> {
    const temporal = await this.temporal?.catch(() => undefined);
    await temporal?.close();
  }
}
