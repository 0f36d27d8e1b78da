# The openclaw-nix gateway as a kubenix module: import it into a kubenix configuration and it adds the
# objects of deploy/k8s (Namespace, overlay ConfigMap, StatefulSet, Service, NetworkPolicy), with the
# few settings a deployment changes as options under `openclaw-nix`. With the defaults the objects are
# those of `kubectl kustomize deploy/k8s` (tests/test_kubenix.py compares them field by field).
#
# Ports, volume names and paths, probe commands, uid/gid/fsGroup, the grace period and the restricted
# security context come from image/contract.toml, as nix/image.nix reads it: nothing of the image's
# contract is written here. The shipped overlay is deploy/k8s's own file.
#
# Needs kubenix's `kubenix` module argument (kubenix.evalModules passes it; `kubenix.modules.k8s` is
# imported from it, so a configuration that imports k8s itself gets the same module once) and reads
# nothing from `pkgs`: `config.kubernetes.objects` and `.generated` evaluate without nixpkgs.
{
  config,
  lib,
  kubenix,
  k8s,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.openclaw-nix;
  contract = builtins.fromTOML (builtins.readFile ../image/contract.toml);
  kube = contract.kubernetes;
  port = builtins.head contract.image.ports;

  labels = {
    "app.kubernetes.io/name" = cfg.name;
    "app.kubernetes.io/component" = "gateway";
  };
  metadata = {
    namespace = cfg.namespace;
    inherit labels;
  };

  # Pod volume names: the contract's volumes in the order of deploy/k8s, then its scratch dirs.
  # A volume added to the contract and not placed here fails evaluation instead of going unmounted.
  volumeOrder =
    let
      order = [
        "config"
        "overlay"
        "state"
        "logs"
      ];
    in
    assert lib.assertMsg (
      lib.sort lib.lessThan order == builtins.attrNames contract.volumes
    ) "nix/kubenix.nix places the volumes ${toString order}, the contract has ${toString (builtins.attrNames contract.volumes)}";
    order;
  # secretAs = "files": NAME_FILE for each chosen key, pointing into the mounted Secret; the other
  # allowlisted names still come from the Secret, as optional keys (envFrom would also set NAME for
  # the file keys, and the entrypoint refuses NAME together with NAME_FILE).
  secretEnv = lib.optionals (cfg.secretAs == "files") (
    map (k: {
      name = "${k}_FILE";
      value = "${kube.secret_mount}/${k}";
    }) cfg.secretFileKeys
    ++ map (a: {
      inherit (a) name;
      valueFrom.secretKeyRef = {
        name = cfg.secretName;
        key = a.name;
        optional = true;
      };
    }) (builtins.filter (a: !(builtins.elem a.name cfg.secretFileKeys)) contract.allowlist)
  );
  persistent = builtins.filter (v: contract.volumes.${v}.persistent) volumeOrder;
  scratchNames = builtins.attrNames kube.scratch;
  mountPath = v: if kube.scratch ? ${v} then kube.scratch.${v} else contract.volumes.${v}.path;
  # The non-persistent, non-overlay volumes: in memory (/config) or on the node's disk (scratch).
  emptyDirs = {
    config = {
      medium = "Memory";
      sizeLimit = "16Mi";
    };
    tmp.sizeLimit = "1Gi";
    var-tmp.sizeLimit = "256Mi";
  };

  overlayData =
    cfg.overlay.files
    // lib.optionalAttrs (cfg.overlay.settings != null) {
      ${cfg.overlay.settingsFile} = builtins.toJSON cfg.overlay.settings;
    };
  # A hash of the overlay in the ConfigMap's name (kubenix's own scheme): an overlay change rolls the pod,
  # as kustomize's configMapGenerator suffix does for deploy/k8s.
  overlayName = k8s.mkNameHash {
    name = "${cfg.name}-overlay";
    data = overlayData;
  };

  # The image's probe command in a mode of [kubernetes.probes] (exec probes: see the contract's [probe]).
  execProbe = mode: extra: { exec.command = [ contract.probe.command mode ]; } // extra;
  claim = v: {
    metadata = {
      name = v;
      inherit labels;
    };
    spec = {
      accessModes = [ "ReadWriteOnce" ];
      resources.requests.storage = cfg.storage.${v}.size;
    } // lib.optionalAttrs (cfg.storage.${v}.storageClassName != null) {
      inherit (cfg.storage.${v}) storageClassName;
    };
  };
  storageOption = size: {
    size = mkOption {
      type = types.str;
      default = size;
      description = "Requested size of the claim (a Kubernetes quantity).";
    };
    storageClassName = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "StorageClass of the claim; null: the cluster's default class.";
    };
  };
in
{
  imports = [ kubenix.modules.k8s ];

  options.openclaw-nix = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Add the gateway's objects to this kubenix configuration.";
    };
    name = mkOption {
      type = types.str;
      default = "openclaw-nix";
      description = "Name of the StatefulSet, Service and NetworkPolicy, prefix of the ConfigMap and Secret names.";
    };
    image = mkOption {
      type = types.str;
      default = "${kube.repository}:${contract.image.tag}";
      example = "ghcr.io/OWNER/openclaw-nix@sha256:...";
      description = "The image, by tag or (better) by digest.";
    };
    imagePullPolicy = mkOption {
      type = types.enum [
        "Always"
        "IfNotPresent"
        "Never"
      ];
      default = "Always";
      description = "Kubernetes imagePullPolicy of the gateway container.";
    };
    namespace = mkOption {
      type = types.str;
      default = "openclaw";
      description = "Namespace of every object.";
    };
    createNamespace = mkOption {
      type = types.bool;
      default = true;
      description = ''The Namespace object, labelled for Pod Security "restricted" enforcement.'';
    };
    secretName = mkOption {
      type = types.str;
      default = "${cfg.name}-env";
      description = "The Secret (created by you, not by this module) whose keys become the gateway's environment.";
    };
    secretAs = mkOption {
      type = types.enum [
        "env"
        "files"
      ];
      default = "env";
      description = ''
        How the Secret reaches the gateway: "env" (its keys become environment variables) or "files"
        (mounted read-only at the contract's secret_mount; each name of `secretFileKeys` gets
        NAME_FILE pointing at its file, which the entrypoint reads).
      '';
    };
    secretFileKeys = mkOption {
      type = types.listOf (types.enum (map (a: a.name) contract.allowlist));
      default = map (a: a.name) (builtins.filter (a: a.required) contract.allowlist);
      description = "With secretAs = \"files\": the Secret's keys (allowlisted names) read from files.";
    };
    overlay = {
      settings = mkOption {
        type = types.nullOr types.attrs;
        default = null;
        example = {
          channels.whatsapp.enabled = false;
        };
        description = "OpenClaw settings merged over the image's template, rendered to JSON in the ConfigMap. When set, `files` defaults to none.";
      };
      settingsFile = mkOption {
        type = types.str;
        default = "settings.json5";
        description = "ConfigMap key (file name under the overlay mount) of the rendered `settings`.";
      };
      files = mkOption {
        type = types.attrsOf types.str;
        default =
          if cfg.overlay.settings == null then
            { "matrix-only.json5" = builtins.readFile ../deploy/k8s/config-overlay/matrix-only.json5; }
          else
            { };
        defaultText = lib.literalExpression ''{ "matrix-only.json5" = <deploy/k8s/config-overlay/matrix-only.json5>; }'';
        description = "Overlay files (*.json5, merged in name order): name -> text. The default turns WhatsApp off so /readyz can become ready.";
      };
    };
    storage = {
      state = storageOption "10Gi";
      logs = storageOption "2Gi";
    };
    resources = mkOption {
      type = types.attrs;
      default = {
        requests = {
          cpu = "500m";
          memory = "768Mi";
        };
        limits = {
          cpu = "2";
          memory = "2Gi";
        };
      };
      description = "The gateway container's resources (requests/limits).";
    };
    extraEnv = mkOption {
      type = types.listOf types.attrs;
      default = [ ];
      example = [
        {
          name = "OPENCLAW_LOG_LEVEL";
          value = "debug";
        }
      ];
      description = "Extra container env entries (Kubernetes EnvVar), besides the Secret's keys.";
    };
    service = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "A Service in front of the gateway port.";
      };
      type = mkOption {
        type = types.str;
        default = "ClusterIP";
        description = "The Service type.";
      };
      annotations = mkOption {
        type = types.attrsOf types.str;
        default = { };
        description = "Annotations of the Service (load balancers read theirs here).";
      };
    };
    networkPolicy.enable = mkOption {
      type = types.bool;
      default = true;
      description = "A NetworkPolicy that lets ingress reach only the gateway port (egress stays open).";
    };
  };

  config = lib.mkIf cfg.enable {
    kubernetes.resources = {
      namespaces = lib.mkIf cfg.createNamespace {
        ${cfg.namespace}.metadata = {
          namespace = lib.mkForce null; # kubenix would give it kubernetes.namespace
          labels = labels // {
            "pod-security.kubernetes.io/enforce" = "restricted";
            "pod-security.kubernetes.io/enforce-version" = "latest";
          };
        };
      };

      configMaps."${cfg.name}-overlay" = {
        metadata = metadata // {
          name = overlayName;
        };
        data = overlayData;
      };

      statefulSets.${cfg.name} = {
        inherit metadata;
        spec = {
          serviceName = cfg.name;
          replicas = 1;
          selector.matchLabels = labels;
          template = {
            metadata.labels = labels;
            spec = {
              automountServiceAccountToken = false;
              enableServiceLinks = false;
              terminationGracePeriodSeconds = kube.termination_grace_seconds;
              securityContext = {
                runAsNonRoot = true;
                runAsUser = kube.uid;
                runAsGroup = kube.gid;
                fsGroup = kube.fs_group;
                fsGroupChangePolicy = "OnRootMismatch";
                inherit (kube.container_security_context) seccompProfile;
              };
              containers = [
                (
                  {
                    name = "gateway";
                    inherit (cfg) image imagePullPolicy resources;
                    ports = [
                      {
                        name = kube.port_name;
                        containerPort = port;
                      }
                    ];
                    securityContext = kube.container_security_context;
                    startupProbe = execProbe kube.probes.startup {
                      periodSeconds = 5;
                      timeoutSeconds = 5;
                      failureThreshold = 36;
                    };
                    livenessProbe = execProbe kube.probes.live {
                      periodSeconds = 20;
                      timeoutSeconds = 5;
                      failureThreshold = 3;
                    };
                    readinessProbe = execProbe kube.probes.ready {
                      periodSeconds = 10;
                      timeoutSeconds = 5;
                      failureThreshold = 3;
                    };
                    volumeMounts = map (
                      v:
                      {
                        name = v;
                        mountPath = mountPath v;
                      }
                      // lib.optionalAttrs (contract.volumes.${v}.read_only or false) { readOnly = true; }
                    ) (volumeOrder ++ scratchNames)
                    ++ lib.optionals (cfg.secretAs == "files") [
                      {
                        name = "secrets";
                        mountPath = kube.secret_mount;
                        readOnly = true;
                      }
                    ];
                  }
                  // lib.optionalAttrs (cfg.secretAs == "env") { envFrom = [ { secretRef.name = cfg.secretName; } ]; }
                  // lib.optionalAttrs (secretEnv ++ cfg.extraEnv != [ ]) { env = secretEnv ++ cfg.extraEnv; }
                )
              ];
              volumes = map (
                v:
                {
                  name = v;
                }
                // (
                  if v == "overlay" then
                    { configMap.name = overlayName; }
                  else
                    { emptyDir = emptyDirs.${v}; }
                )
              ) (builtins.filter (v: !(builtins.elem v persistent)) volumeOrder ++ scratchNames)
              ++ lib.optionals (cfg.secretAs == "files") [
                {
                  name = "secrets";
                  secret = {
                    secretName = cfg.secretName;
                    defaultMode = 288; # 0440: the pod's fsGroup reads it
                  };
                }
              ];
            };
          };
          volumeClaimTemplates = map claim persistent;
        };
      };

      services = lib.mkIf cfg.service.enable {
        ${cfg.name} = {
          metadata = metadata // lib.optionalAttrs (cfg.service.annotations != { }) {
            inherit (cfg.service) annotations;
          };
          spec = {
            inherit (cfg.service) type;
            selector = labels;
            ports = [
              {
                name = kube.port_name;
                inherit port;
                targetPort = kube.port_name;
              }
            ];
          };
        };
      };

      networkPolicies = lib.mkIf cfg.networkPolicy.enable {
        ${cfg.name} = {
          inherit metadata;
          spec = {
            podSelector = { };
            policyTypes = [ "Ingress" ];
            ingress = [
              {
                ports = [
                  {
                    protocol = "TCP";
                    inherit port;
                  }
                ];
              }
            ];
          };
        };
      };
    };
  };
}
