"Drive the `cdsam-demo` console script as a user would: as a subprocess."
import shutil, subprocess, sys

def run(*args, timeout=300):
    exe = shutil.which(args[0])
    assert exe, f"console script {args[0]} is not installed (pip install -e .)"
    return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=timeout)

def test_demo_runs_and_reports_ok():
    r = run('cdsam-demo', '--steps', '8')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'demo: OK' in r.stdout
    assert 'lora_layers: 8' in r.stdout

def test_demo_help():
    r = run('cdsam-demo', '--help')
    assert r.returncode == 0 and 'no downloads' in r.stdout

def test_demo_bad_argument_fails_cleanly():
    r = run('cdsam-demo', '--steps', 'many')
    assert r.returncode == 2 and 'invalid int value' in r.stderr and 'Traceback' not in r.stderr
