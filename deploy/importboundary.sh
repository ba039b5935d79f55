#!/usr/bin/env bash
# Fails when one service imports another service's packages: services meet
# only through gen/ contracts over gRPC and the bus; shared code lives in
# services/platform and services/analytics. Built on `go list -deps -test`,
# so tests and transitive imports count too. The all-in-one services/suite
# is the one module allowed to link every service.
set -euo pipefail
cd "$(dirname "$0")/.."
services=(ingestion segmentation metrics campaign gateway)
status=0
for svc in "${services[@]}"; do
	deps=$(go list -deps -test -f '{{.ImportPath}}' "./services/$svc/..." )
	for other in "${services[@]}"; do
		[[ $other == "$svc" ]] && continue
		bad=$(grep -E "^github.com/kizuna/kizuna/services/$other(/|$)" <<<"$deps" || true)
		if [[ -n $bad ]]; then
			echo "import boundary: services/$svc imports services/$other:" >&2
			sed 's/^/  /' <<<"$bad" >&2
			status=1
		fi
	done
done
for shared in platform analytics; do
	bad=$(go list -deps -test -f '{{.ImportPath}}' "./services/$shared/..." | grep -E "^github.com/kizuna/kizuna/services/($(IFS='|'; echo "${services[*]}")|suite)(/|$)" || true)
	if [[ -n $bad ]]; then
		echo "import boundary: shared services/$shared imports a service:" >&2
		sed 's/^/  /' <<<"$bad" >&2
		status=1
	fi
done
exit $status
