# Sourced by the tests that need an S3 server or Ray (tests/ray/run.sh,
# tests/slurm/run.sh): a venv with moto, boto3 and Ray, pinned, made once and
# kept for later runs. Sets $venv (PIXMILL_TEST_VENV, default
# target/ci-venv); run from the repository's root.
venv=${PIXMILL_TEST_VENV:-$PWD/target/ci-venv}
venv_requirements=("moto[server]==5.2.5" "ray==2.60.0" "boto3")
if [ "$(cat "$venv/pixmill-requirements" 2>/dev/null)" != "${venv_requirements[*]}" ]; then
  echo "installing ${venv_requirements[*]} into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${venv_requirements[@]}"
  echo "${venv_requirements[*]}" >"$venv/pixmill-requirements"
fi
