"""Programs run in short-lived helper containers of the appliance's own image: `python -m appliance.helpers.NAME`."""
