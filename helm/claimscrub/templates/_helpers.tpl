{{/* Names and labels shared by every template. */}}

{{- define "claimscrub.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A service's object name: <fullname>-<service>. */}}
{{- define "claimscrub.serviceName" -}}
{{- printf "%s-%s" (include "claimscrub.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "claimscrub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: claimscrub
claimscrub.io/region: {{ .Values.region | quote }}
{{- end -}}

{{/* Selector labels of one service's pods; `component` is its name. */}}
{{- define "claimscrub.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Every pod of this release, whatever its service. */}}
{{- define "claimscrub.releaseSelector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* One service's settings: serviceDefaults overridden by its own entry. */}}
{{- define "claimscrub.service" -}}
{{- $merged := mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy .svc) -}}
{{- toYaml $merged -}}
{{- end -}}

{{- define "claimscrub.image" -}}
{{- $img := .Values.image -}}
{{- $repo := ternary (printf "%s/%s" $img.registry $img.repository) $img.repository (ne $img.registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The checks the aggregator waits for: those of the enabled services. */}}
{{- define "claimscrub.requiredChecks" -}}
{{- $checks := list -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.enabled $svc.check -}}
{{- $checks = append $checks $svc.check -}}
{{- end -}}
{{- end -}}
{{- join "," $checks -}}
{{- end -}}

{{- define "claimscrub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "claimscrub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
