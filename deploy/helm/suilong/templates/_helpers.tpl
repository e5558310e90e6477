{{- define "suilong.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "suilong.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* suilong.selector: the labels that pick one role's pods; call with (dict "ctx" $ "role" "api"). */}}
{{- define "suilong.selector" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "suilong.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "suilong.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "suilong.fullname" .)) -}}
{{- end -}}

{{/* suilong.env: the settings of every process, from the ConfigMap and the Secret. */}}
{{- define "suilong.envFrom" -}}
- configMapRef:
    name: {{ include "suilong.fullname" . }}-config
- secretRef:
    name: {{ include "suilong.secretName" . }}
{{- end -}}

{{/* suilong.pod: what every pod of the chart shares; call with (dict "ctx" $ "role" "api"). */}}
{{- define "suilong.podCommon" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* suilong.probes: liveness on /healthz, readiness on /readyz, a startup allowance. */}}
{{- define "suilong.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 24
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 15
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* suilong.terminationGrace: the drain timeout plus ten seconds, so SIGKILL never cuts a clean stop short. */}}
{{- define "suilong.terminationGrace" -}}
{{- add 10 (trimSuffix "s" .Values.drainTimeout | int) -}}
{{- end -}}

{{/* suilong.podTemplate: the pod of a serving role; call with
     (dict "ctx" $ "role" "api" "resources" .Values.api.resources "clientID" false "dataVolume" true). */}}
{{- define "suilong.podTemplate" -}}
{{- $ := .ctx -}}
metadata:
  labels:
    {{- include "suilong.selector" . | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") $ | sha256sum }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") $ | sha256sum }}
spec:
  {{- include "suilong.podCommon" . | trim | nindent 2 }}
  terminationGracePeriodSeconds: {{ include "suilong.terminationGrace" $ }}
  containers:
    - name: {{ .role }}
      image: {{ include "suilong.image" $ }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      args: ["serve", "--only", {{ .role | quote }}]
      envFrom:
        {{- include "suilong.envFrom" $ | nindent 8 }}
      {{- if .clientID }}
      env:
        # The broker keeps each worker's persistent session under its client id: the pod's name, stable in a
        # StatefulSet.
        - name: SUILONG_INGEST_CLIENT_ID
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
      {{- end }}
      ports:
        - {name: http, containerPort: 8080, protocol: TCP}
      {{- include "suilong.probes" $ | nindent 6 }}
      securityContext:
        {{- toYaml $.Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      volumeMounts:
        - {name: data, mountPath: /data}
        {{- if $.Values.tls.secretName }}
        - {name: tls, mountPath: /etc/suilong/tls, readOnly: true}
        {{- end }}
  volumes:
    {{- if not .dataVolume }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- if $.Values.tls.secretName }}
    - name: tls
      secret: {secretName: {{ $.Values.tls.secretName }}, defaultMode: 0440}
    {{- end }}
{{- end -}}
