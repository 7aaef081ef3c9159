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

{{/* Transport security (docs/operations.md, "Security"). Secrets are mounted
     as files, each pod only its own, and read through the *_FILE variables. */}}

{{/* Kafka client environment of one principal: dict "root" $ "principal" name. */}}
{{- define "claimscrub.kafkaEnv" -}}
{{- $sec := .root.Values.kafka.security -}}
- name: CLAIMSCRUB_MODE
  value: {{ .root.Values.mode | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $sec.protocol | quote }}
{{- if ne $sec.protocol "PLAINTEXT" }}
{{- if $sec.caSecret }}
- name: KAFKA_SSL_CA_FILE
  value: {{ printf "/etc/claimscrub/kafka-ca/%s" $sec.caKey | quote }}
{{- end }}
{{- if eq $sec.protocol "SASL_SSL" }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $sec.saslMechanism | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ .principal | quote }}
- name: KAFKA_SASL_PASSWORD_FILE
  value: /etc/claimscrub/kafka-sasl/password
{{- else }}
- name: KAFKA_SSL_CERT_FILE
  value: /etc/claimscrub/kafka-client/tls.crt
- name: KAFKA_SSL_KEY_FILE
  value: /etc/claimscrub/kafka-client/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "claimscrub.kafkaMounts" -}}
{{- $sec := .root.Values.kafka.security -}}
{{- if ne $sec.protocol "PLAINTEXT" }}
{{- if $sec.caSecret }}
- name: kafka-ca
  mountPath: /etc/claimscrub/kafka-ca
  readOnly: true
{{- end }}
{{- if eq $sec.protocol "SASL_SSL" }}
- name: kafka-sasl
  mountPath: /etc/claimscrub/kafka-sasl
  readOnly: true
{{- else }}
- name: kafka-client
  mountPath: /etc/claimscrub/kafka-client
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* 0440 with the pod's fsGroup: readable by the service's group, by nobody else. */}}
{{- define "claimscrub.kafkaVolumes" -}}
{{- $sec := .root.Values.kafka.security -}}
{{- if ne $sec.protocol "PLAINTEXT" }}
{{- if $sec.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $sec.caSecret }}
    items:
      - key: {{ $sec.caKey }}
        path: {{ $sec.caKey }}
{{- end }}
{{- if eq $sec.protocol "SASL_SSL" }}
- name: kafka-sasl
  secret:
    secretName: {{ required "kafka.security.saslSecret is required for SASL_SSL" $sec.saslSecret }}
    defaultMode: 0440
    # Only this principal's password.
    items:
      - key: {{ .principal }}
        path: password
{{- else }}
- name: kafka-client
  secret:
    secretName: {{ printf "%s-%s" (required "kafka.security.clientCertSecretPrefix is required for SSL" $sec.clientCertSecretPrefix) .principal }}
    defaultMode: 0440
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}
{{- end -}}

{{/*
topics.retentionMs as CLAIMSCRUB_TOPIC_RETENTION_MS: topic=ms,topic=ms (sorted).
*/}}
{{- define "claimscrub.retentionOverrides" -}}
{{- $items := list }}
{{- range $topic, $ms := . }}
{{- $items = append $items (printf "%s=%d" $topic (int64 $ms)) }}
{{- end }}
{{- join "," $items }}
{{- end }}
