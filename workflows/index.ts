/** The workflows a durable-canary worker hosts (its workflowsPath). */
export { canaryWorkflow } from "./canary.ts";
export { rolloutWorkflow } from "./rollout.ts";
