{{- define "canaria.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "canaria.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "canaria.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "canaria.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "canaria.labels" -}}
app.kubernetes.io/name: {{ include "canaria.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "canaria.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canaria.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "canaria.operatorName" -}}
{{- printf "%s-operator" (include "canaria.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "canaria.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "canaria.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "canaria.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Rules for objects the operator manages in the namespaces it watches. */}}
{{- define "canaria.namespacedRules" -}}
# ModelDeployments: kopf watches them and patches its annotations; the reconciler reads
# them and writes status.
- apiGroups: ["canaria.dev"]
  resources: ["modeldeployments"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["canaria.dev"]
  resources: ["modeldeployments/status"]
  verbs: ["patch"]
# Owned workloads: listed by label, server-side applied (create on first apply), deleted.
# Deployments and pods are also watched by kopf (events of owned objects).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "create", "patch", "delete"]
# the routers' PodDisruptionBudgets
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# Acceptance tests (spec.rollout.acceptance): one Job per rollout, listed by label,
# server-side applied, deleted with its canary (its pod's result is read with the pods list).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "create", "patch", "delete"]
# Each model's router (traffic router Builtin): its ServiceAccount, and a Role granting
# list/watch on pods and ModelDeployments (the API server lets the operator grant only
# what it holds itself) bound to it.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["list", "create", "patch", "delete"]
{{- if .Values.rbac.gatewayAPI }}
# Traffic router GatewayAPI: the weights of the referenced HTTPRoute's backendRefs.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "patch"]
{{- end }}
# Events: the reconciler's (events.k8s.io) and kopf's warnings (core).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.rbac.secretsGet }}
# Existence check of spec.model.credentialsSecretRef (GET by name; never list or watch).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
{{- end -}}

{{/* kopf peering: read the peering object and patch this instance's heartbeat into it. */}}
{{- define "canaria.peeringRule" -}}
- apiGroups: ["kopf.dev"]
  resources: [{{ . | quote }}]
  verbs: ["get", "list", "watch", "patch"]
{{- end -}}
