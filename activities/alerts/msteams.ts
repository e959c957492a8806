/**
 * Microsoft Teams: an Adaptive Card in a message envelope, the format both the Workflows
 * ("post to a channel when a webhook request is received") and the older incoming-webhook
 * connectors accept. The webhook is bound to its channel and poster, so `channel` and `username`
 * have no effect.
 */
import type { AlertSeverity } from "../../src/api/canary.ts";
import type { AlertFormat } from "./message.ts";

/** Adaptive Card text colours by severity. */
const CARD_COLOURS: Readonly<Record<AlertSeverity, string>> = {
  info: "Good",
  warn: "Warning",
  error: "Attention",
};

export const msteamsFormat: AlertFormat = (message) => ({
  type: "message",
  summary: `${message.title}: ${message.text}`,
  attachments: [
    {
      contentType: "application/vnd.microsoft.card.adaptive",
      content: {
        $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
        type: "AdaptiveCard",
        version: "1.4",
        body: [
          {
            type: "TextBlock",
            text: message.title,
            weight: "Bolder",
            size: "Medium",
            color: CARD_COLOURS[message.severity],
          },
          { type: "TextBlock", text: message.text, wrap: true },
          { type: "FactSet", facts: message.facts.map((fact) => ({ title: fact.name, value: fact.value })) },
        ],
      },
    },
  ],
});
