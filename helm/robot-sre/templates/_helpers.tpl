{{/* Names and labels. */}}
{{- define "robot-sre.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "robot-sre.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "robot-sre.selectorLabels" -}}
app.kubernetes.io/name: {{ include "robot-sre.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "robot-sre.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "robot-sre.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: robot-sre
{{- end }}

{{/* Labels of the objects kube-prometheus-stack selects, plus the object's own. */}}
{{- define "robot-sre.monitoringLabels" -}}
{{- $labels := merge (deepCopy (default dict .extra)) (default dict .root.Values.monitoringLabels) }}
{{- if $labels }}
{{- toYaml $labels }}
{{- end }}
{{- end }}

{{- define "robot-sre.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "robot-sre.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "robot-sre.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The webhook bearer token Secret and key. */}}
{{- define "robot-sre.webhookSecretName" -}}
{{- default (printf "%s-webhook-token" (include "robot-sre.fullname" .)) .Values.webhook.existingSecret }}
{{- end }}

{{/* Store: "external", "bundled" or "sqlite" (see values.yaml, "state"). */}}
{{- define "robot-sre.storeKind" -}}
{{- if or .Values.externalRedis.url .Values.externalRedis.existingSecret }}
{{- if .Values.redis.enabled }}
{{- fail "set either redis.enabled or externalRedis.url/existingSecret, not both" }}
{{- end }}
{{- print "external" }}
{{- else if .Values.redis.enabled }}
{{- print "bundled" }}
{{- else }}
{{- print "sqlite" }}
{{- end }}
{{- end }}

{{- define "robot-sre.redisFullname" -}}
{{- printf "%s-redis" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The responder's settings file (responder/settings.py keys only). */}}
{{- define "robot-sre.settings" -}}
{{- $settings := dict
  "environment" .Values.environment
  "store_namespace" .Values.storeNamespace
  "dry_run" .Values.dryRun
  "log_level" .Values.logLevel
  "cel_engine" .Values.celEngine
  "policies_dir" "/etc/robot-sre/policies.cel"
  "allowlist_extra" .Values.allowlistExtra
  "shared_targets" .Values.sharedTargets
  "alertname_map" .Values.alertnameMap
  "dependencies" .Values.dependencies
  "max_alerts_per_payload" .Values.alertmanagerConfig.maxAlerts
}}
{{- if .Values.oci.enabled }}
{{- $oci := dict "auth" .Values.oci.auth }}
{{- if eq .Values.oci.auth "config" }}
{{- $_ := set $oci "config_file" (printf "/etc/robot-sre/oci/%s" .Values.oci.configKey) }}
{{- end }}
{{- $_ := set $settings "oci" (merge $oci (deepCopy .Values.oci.settings)) }}
{{- end }}
{{- if .Values.alertmanagerUrl }}
{{- $_ := set $settings "alertmanager_url" .Values.alertmanagerUrl }}
{{- end }}
{{- with .Values.prometheus }}
{{- if .url }}
{{- $prometheus := dict "url" .url }}
{{- if .existingSecret }}
{{- $_ := set $prometheus "bearer_token_env" "PROMETHEUS_BEARER_TOKEN" }}
{{- end }}
{{- $_ := set $settings "prometheus" (merge $prometheus (deepCopy (default dict .settings))) }}
{{- end }}
{{- end }}
{{- if .Values.remedies }}
{{- $_ := set $settings "remedies" .Values.remedies }}
{{- end }}
{{- $channels := dict }}
{{- with .Values.channels.publicUrl }}
{{- $_ := set $channels "public_url" . }}
{{- end }}
{{- with .Values.channels.dashboardUrl }}
{{- $_ := set $channels "dashboard_url" . }}
{{- end }}
{{- with .Values.channels.slack }}
{{- if .enabled }}
{{- $_ := set $channels "slack" (dict
  "channel" (required "channels.slack.channel is required when Slack is enabled" .channel)
  "mode" .mode
  "command_reply_seconds" .commandReplySeconds
) }}
{{- end }}
{{- end }}
{{- with .Values.channels.telegram }}
{{- if .enabled }}
{{- $telegram := dict
  "chat_id" (required "channels.telegram.chatId is required when Telegram is enabled" .chatId)
  "mode" .mode
  "poll_timeout_seconds" .pollTimeoutSeconds
  "poll_lease_seconds" .pollLeaseSeconds
  "dialog_timeout_seconds" .dialogTimeoutSeconds
  "topics" (default dict .topics)
}}
{{- if .webhookUrl }}
{{- $_ := set $telegram "webhook_url" .webhookUrl }}
{{- end }}
{{- $_ := set $channels "telegram" $telegram }}
{{- end }}
{{- end }}
{{- if $channels }}
{{- $_ := set $settings "channels" $channels }}
{{- end }}
{{- toYaml (merge $settings (deepCopy .Values.settings)) }}
{{- end }}

{{/* The TCP port of an http(s) URL: its own, else the scheme's. */}}
{{- define "robot-sre.urlPort" -}}
{{- $url := urlParse . }}
{{- with regexFind ":[0-9]+$" $url.host }}
{{- trimPrefix ":" . }}
{{- else }}
{{- ternary "443" "80" (eq $url.scheme "https") }}
{{- end }}
{{- end }}

{{/* policies.cel/ file path -> ConfigMap key (keys cannot hold "/"). */}}
{{- define "robot-sre.policyKey" -}}
{{- . | replace "/" "__" }}
{{- end }}

{{/* The policy files mounted: the shipped ones, replaced or extended by
     policies.overrides (path relative to policies.cel/ -> content). */}}
{{- define "robot-sre.policyFiles" -}}
{{- $files := dict }}
{{- range $path, $_ := .Files.Glob "files/policies.cel/*.yaml" }}
{{- $_ := set $files (trimPrefix "files/policies.cel/" $path) ($.Files.Get $path) }}
{{- end }}
{{- range $path, $_ := .Files.Glob "files/policies.cel/environments/*.yaml" }}
{{- $_ := set $files (trimPrefix "files/policies.cel/" $path) ($.Files.Get $path) }}
{{- end }}
{{- range $path, $content := .Values.policies.overrides }}
{{- $_ := set $files $path $content }}
{{- end }}
{{- toJson $files }}
{{- end }}
