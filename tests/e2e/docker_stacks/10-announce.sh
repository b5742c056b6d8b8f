# A before-notebook hook, as images built FROM docker-stacks add.
echo "before-notebook hook ran as $(id -u):$(id -g)"
