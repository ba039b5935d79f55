{{/* The release's base name, at most 63 characters less room for a suffix. */}}
{{- define "kizuna.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The components, in start order. */}}
{{- define "kizuna.components" -}}
gateway ingestion segmentation metrics campaign
{{- end -}}

{{/* gRPC port of each backend (config.DefaultPorts in the code). */}}
{{- define "kizuna.grpcPort" -}}
{{- get (dict "ingestion" 50051 "segmentation" 50052 "metrics" 50053 "campaign" 50054) . -}}
{{- end -}}

{{/* The gRPC service a backend's readiness probe asks for. */}}
{{- define "kizuna.healthService" -}}
{{- get (dict "ingestion" "kizuna.ingestion.v1.TrackingService" "segmentation" "kizuna.segmentation.v1.SegmentService" "metrics" "kizuna.metrics.v1.MetricsService" "campaign" "kizuna.campaign.v1.JourneyService") . -}}
{{- end -}}

{{/* The services each component calls. */}}
{{- define "kizuna.calls" -}}
{{- get (dict "gateway" "ingestion segmentation metrics campaign" "ingestion" "" "segmentation" "ingestion" "metrics" "ingestion segmentation campaign" "campaign" "ingestion segmentation") . -}}
{{- end -}}

{{/* Labels on every object. Call with (dict "root" $ "component" name). */}}
{{- define "kizuna.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kizuna
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "kizuna.selectorLabels" . }}
{{- end -}}

{{/* Labels that select one component's pods, or every pod of the release without a component. */}}
{{- define "kizuna.selectorLabels" -}}
app.kubernetes.io/name: kizuna
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "kizuna.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kizuna.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kizuna.secretName" -}}
{{- default (include "kizuna.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Secret and key of the database URL. */}}
{{- define "kizuna.databaseSecretName" -}}
{{- if .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecret -}}
{{- else -}}
{{- include "kizuna.fullname" . -}}-database
{{- end -}}
{{- end -}}

{{- define "kizuna.databaseSecretKey" -}}
{{- if .Values.postgresql.existingSecret -}}
{{- .Values.postgresql.existingSecretKey -}}
{{- else -}}
database-url
{{- end -}}
{{- end -}}

{{- define "kizuna.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
