#!/usr/bin/env node
/**
 * The kubectl plugin: `kubectl canary <command>` runs this file as `kubectl-canary`, which is the
 * durable-canary command line (main tells the plugin by the name it was run as).
 */
import "../main.ts";
