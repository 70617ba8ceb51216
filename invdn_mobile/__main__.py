from invdn_mobile.cli.main import app

app(prog_name="invdn")
