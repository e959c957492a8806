/**
 * Google Chat incoming webhooks: a plain `text` (what notifications show) and a card with the
 * facts. The webhook is bound to its space and poster, so `channel` and `username` have no effect.
 */
import type { AlertFormat } from "./message.ts";

const SEVERITY_LABELS = { info: "info", warn: "warning", error: "error" } as const;

export const gchatFormat: AlertFormat = (message) => ({
  text: `*${message.title}* ${message.text}`,
  cardsV2: [
    {
      cardId: "canary-alert",
      card: {
        header: { title: message.title, subtitle: SEVERITY_LABELS[message.severity] },
        sections: [
          {
            widgets: [
              { textParagraph: { text: message.text } },
              ...message.facts.map((fact) => ({ decoratedText: { topLabel: fact.name, text: fact.value } })),
            ],
          },
        ],
      },
    },
  ],
});
