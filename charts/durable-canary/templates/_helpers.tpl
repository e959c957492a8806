{{/* The chart's name, 63 characters at most. */}}
{{- define "durable-canary.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name, with the chart's name unless it already has it. */}}
{{- define "durable-canary.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "durable-canary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "durable-canary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "durable-canary.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "durable-canary.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "durable-canary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "durable-canary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "durable-canary.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Where the embedded Temporal server keeps its database and the Temporal CLI it downloads. */}}
{{- define "durable-canary.stateMount" -}}/var/lib/durable-canary{{- end }}

{{/* The embedded Temporal server runs in exactly one pod. */}}
{{- define "durable-canary.replicas" -}}
{{- if .Values.temporal.embedded }}1{{ else }}{{ .Values.replicas }}{{ end }}
{{- end }}

{{/* Fails the render on settings that cannot work, with what to do instead. */}}
{{- define "durable-canary.validate" -}}
{{- $t := .Values.temporal }}
{{- if and $t.embedded $t.address }}
{{- fail "temporal.address and temporal.embedded=true exclude each other: the embedded server is used only without an address" }}
{{- end }}
{{- if not (or $t.embedded $t.address) }}
{{- fail "temporal.address is required (host:port of your Temporal frontend or Temporal Cloud namespace); for a trial without Temporal set temporal.embedded=true" }}
{{- end }}
{{- if and .Values.rbac.templateNamespaces (not .Values.watchNamespace) }}
{{- fail "rbac.templateNamespaces is for a namespaced install (watchNamespace): a cluster-wide install reads templates in every namespace" }}
{{- end }}
{{- if not (has .Values.role (list "all" "controller" "worker")) }}
{{- fail (printf "role must be all, controller or worker, not %q" .Values.role) }}
{{- end }}
{{- if and $t.tls.existingSecret (not $t.tls.enabled) }}
{{- fail "temporal.tls.existingSecret is set but temporal.tls.enabled is false" }}
{{- end }}
{{- if and .Values.slack.url .Values.slack.urlSecret.name }}
{{- fail "set slack.url or slack.urlSecret.name, not both" }}
{{- end }}
{{- if and .Values.msteams.url .Values.msteams.urlSecret.name }}
{{- fail "set msteams.url or msteams.urlSecret.name, not both" }}
{{- end }}
{{- if and (or .Values.slack.url .Values.slack.urlSecret.name) (or .Values.msteams.url .Values.msteams.urlSecret.name) }}
{{- fail "the operator has one global notifier: set slack or msteams, not both (AlertProviders reach more)" }}
{{- end }}
{{- end }}

{{/* The arguments of `durable-canary run`. */}}
{{- define "durable-canary.args" -}}
- run
- {{ printf "--role=%v" .Values.role | quote }}
- --listen=:8080
- {{ printf "--task-queue=%v" .Values.temporal.taskQueue | quote }}
- {{ printf "--leader-election-id=%v" .Values.leaderElection.id | quote }}
- {{ printf "--log-level=%v" .Values.logLevel | quote }}
- {{ printf "--enable-config-tracking=%v" .Values.enableConfigTracking | quote }}
{{- if .Values.temporal.embedded }}
- {{ printf "--state-dir=%s/state" (include "durable-canary.stateMount" .) | quote }}
{{- end }}
{{- with .Values.watchNamespace }}
- {{ printf "--namespace=%v" . | quote }}
{{- end }}
{{- with .Values.workflowCacheSize }}
- {{ printf "--workflow-cache-size=%v" . | quote }}
{{- end }}
{{- with .Values.meshProvider }}
- {{ printf "--mesh-provider=%v" . | quote }}
{{- end }}
{{- with .Values.metricsServer }}
- {{ printf "--metrics-server=%v" . | quote }}
{{- end }}
{{- with .Values.clusterName }}
- {{ printf "--cluster-name=%v" . | quote }}
{{- end }}
{{- with .Values.selectorLabels }}
- {{ printf "--selector-labels=%v" . | quote }}
{{- end }}
{{- with .Values.includeLabelPrefix }}
- {{ printf "--include-label-prefix=%v" . | quote }}
{{- end }}
{{- with .Values.eventWebhook }}
- {{ printf "--event-webhook=%v" . | quote }}
{{- end }}
{{- if .Values.noCrossNamespaceRefs }}
- --no-cross-namespace-refs
{{- end }}
{{- if ne (toString .Values.denyLocalDestinations) "" }}
- {{ printf "--deny-local-destinations=%v" .Values.denyLocalDestinations | quote }}
{{- end }}
{{- if .Values.slack.urlSecret.name }}
- --slack-url=$(SLACK_URL)
{{- else if .Values.slack.url }}
- {{ printf "--slack-url=%v" .Values.slack.url | quote }}
{{- end }}
{{- with .Values.slack.channel }}
- {{ printf "--slack-channel=%v" . | quote }}
{{- end }}
{{- with .Values.slack.user }}
- {{ printf "--slack-user=%v" . | quote }}
{{- end }}
{{- if .Values.msteams.urlSecret.name }}
- --msteams-url=$(MSTEAMS_URL)
{{- else if .Values.msteams.url }}
- {{ printf "--msteams-url=%v" .Values.msteams.url | quote }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* The operator's rules where it watches Canaries; docs/rbac.md says why each is needed. */}}
{{- define "durable-canary.rules" -}}
- apiGroups: [flagger.app]
  resources: [canaries]
  verbs: [get, list, watch, update, patch]
- apiGroups: [flagger.app]
  resources: [canaries/status]
  verbs: [get, update, patch]
- apiGroups: [flagger.app]
  resources: [canaries/finalizers]
  verbs: [update]
- apiGroups: [flagger.app]
  resources: [metrictemplates, alertproviders]
  verbs: [get]
{{- if .Values.rbac.secretRefs }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
- apiGroups: [apps]
  resources: [deployments, daemonsets]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, create, update, patch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [networking.istio.io]
  resources: [virtualservices, destinationrules]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [projectcontour.io]
  resources: [httpproxies]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [traefik.io]
  resources: [traefikservices]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [split.smi-spec.io]
  resources: [trafficsplits]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [specs.smi-spec.io]
  resources: [httproutegroups]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [gloo.solo.io]
  resources: [upstreams]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [gateway.solo.io]
  resources: [routetables]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apisix.apache.org]
  resources: [apisixroutes]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [kuma.io]
  resources: [trafficroutes]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [appmesh.k8s.aws]
  resources: [virtualnodes, virtualservices, virtualrouters]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [serving.knative.dev]
  resources: [services]
  verbs: [get, list, watch, update, patch]
- apiGroups: [serving.knative.dev]
  resources: [revisions]
  verbs: [get]
- apiGroups: [metrics.keptn.sh]
  resources: [keptnmetrics]
  verbs: [get]
- apiGroups: [metrics.keptn.sh]
  resources: [analyses]
  verbs: [get, create, delete]
- apiGroups: [external.metrics.k8s.io]
  resources: ["*"]
  verbs: [list]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [canaries.flagger.app]
  verbs: [get]
{{- if .Values.enableConfigTracking }}
# Config tracking: watch the ConfigMaps and Secrets targets use, write their -primary copies.
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch, create, update, patch]
{{- end }}
{{- end }}
