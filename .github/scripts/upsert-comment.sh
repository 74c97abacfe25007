#!/usr/bin/env bash
# One comment per topic on a pull request, edited in place on every push: the body file is posted
# with a hidden marker, and the comment already carrying that marker (if any) is updated instead
# of adding one more. Usage: upsert-comment.sh <pull request number> <marker> <body file>
set -euo pipefail
pr="$1" marker="$2" body_file="$3"
tagged="$(mktemp)"
{ printf '<!-- %s -->\n' "$marker"; cat "$body_file"; } > "$tagged"
repo="${GITHUB_REPOSITORY:?}"
existing="$(gh api --paginate "repos/${repo}/issues/${pr}/comments" \
  --jq ".[] | select(.body | startswith(\"<!-- ${marker} -->\")) | .id" | head -n 1)"
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/${repo}/issues/comments/${existing}" -F "body=@${tagged}" > /dev/null
else
  gh api --method POST "repos/${repo}/issues/${pr}/comments" -F "body=@${tagged}" > /dev/null
fi
